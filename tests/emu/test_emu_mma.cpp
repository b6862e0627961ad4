// mma.sync m16n8k16 (bf16 -> fp32) and ldmatrix as the emulator runs them: fragments built from the
// PTX ISA formulas, or loaded by ldmatrix, must give A·B + C to fp32 accuracy of a double reference.
#include <gtest/gtest.h>

#include <cmath>

#include "emu_test_util.h"
#include "ptx_probe_inputs.h"
#include "ptx_probes.h"

namespace {

void expect_product(const std::vector<float>& d, const std::vector<double>& reference, const char* how) {
  ASSERT_EQ(d.size(), 128u);
  for (int i = 0; i < 128; ++i)
    EXPECT_NEAR(d[i], reference[i], 1e-6 * (std::fabs(reference[i]) + 1.0)) << how << ": row " << i / 8 << " col " << i % 8;
}

TEST(EmuMma, IsaFragmentsGiveTheProduct) {
  for (uint64_t seed : {1, 2, 3}) {
    const dg::test::MmaInputs in = dg::test::mma_inputs(seed);
    const std::vector<float> d =
        dg::test::same_for_every_seed([&] { return dg::test::mma_from_isa_fragments(in.a, in.b_nk, in.c); });
    expect_product(d, dg::test::mma_reference(in), "ISA fragments");
  }
}

TEST(EmuMma, LdmatrixFragmentsGiveTheProduct) {
  const dg::test::MmaInputs in = dg::test::mma_inputs(4);
  const std::vector<double> reference = dg::test::mma_reference(in);
  expect_product(dg::test::same_for_every_seed([&] { return dg::test::mma_from_ldmatrix(in.a, in.b_nk, false, in.c); }),
                 reference, "ldmatrix.x4 + ldmatrix.x2 of B [n][k]");
  expect_product(dg::test::same_for_every_seed([&] { return dg::test::mma_from_ldmatrix(in.a, in.b_kn, true, in.c); }),
                 reference, "ldmatrix.x4 + ldmatrix.x2.trans of B [k][n]");
}

TEST(EmuMma, EachFragmentElementLandsWhereTheIsaSays) {
  // One non-zero input at a time: A = e_(i,k), B = e_(k,j) gives D = e_(i,j) (C = 0), which pins
  // every A, B and D fragment position, not only their combination.
  dg::test::MmaInputs in;
  in.c.assign(128, 0.0f);
  const uint16_t one = dg::test::bf16_bits(1.0f);
  for (int i = 0; i < 16; ++i)
    for (int k = 0; k < 16; ++k) {
      const int j = (i + k) % 8;
      in.a.assign(256, 0);
      in.b_nk.assign(128, 0);
      in.a[i * 16 + k] = one;
      in.b_nk[j * 16 + k] = dg::test::bf16_bits(2.0f);
      const std::vector<float> d = dg::test::mma_from_isa_fragments(in.a, in.b_nk, in.c);
      for (int e = 0; e < 128; ++e) ASSERT_EQ(d[e], e == i * 8 + j ? 2.0f : 0.0f) << "A(" << i << "," << k << ")";
    }
}

TEST(EmuLdmatrix, RegistersFollowThePtxLayout) {
  const std::vector<uint16_t> tile = dg::test::ldmatrix_tile();
  for (int matrices : {1, 2, 4})
    for (bool transposed : {false, true}) {
      const std::vector<uint32_t> r = dg::test::ldmatrix_registers(tile, matrices, transposed);
      for (int lane = 0; lane < 32; ++lane)
        for (int m = 0; m < matrices; ++m)
          ASSERT_EQ(r[lane * matrices + m], dg::test::ldmatrix_expected(tile, m, lane, transposed))
              << "x" << matrices << (transposed ? ".trans" : "") << " lane " << lane << " matrix " << m;
    }
}

}  // namespace
