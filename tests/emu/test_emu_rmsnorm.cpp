// llm.c-style RMSNorm forward (warp shuffles, dynamic shared memory) run by the emulator, in fp32
// and bf16, against a double-precision reference.
#include <gtest/gtest.h>

#include <cuda_bf16.h>

#include <cmath>

#include "core/rng.h"
#include "emu_test_util.h"
#include "rmsnorm.h"

namespace {

float round_bf16(float v) { return __bfloat162float(__float2bfloat16(v)); }

TEST(EmuRmsnorm, MatchesDoubleReferenceInFp32AndBf16) {
  const int rows = 37, cols = 768;  // 37 rows: the last block has one busy warp and three idle ones
  const float eps = 1e-6f;
  dg::Rng rng(5);
  std::vector<float> x(rows * cols), weight(cols);
  for (float& v : x) v = static_cast<float>(rng.normal(0.0, 2.0));
  for (float& v : weight) v = static_cast<float>(rng.uniform(0.5, 1.5));
  for (bool bf16 : {false, true}) {
    const auto result = dg::test::same_for_every_seed([&] {
      const dg::test::RmsnormOutput r = dg::test::rmsnorm_forward(x, weight, rows, cols, eps, bf16);
      std::vector<float> both = r.out;
      both.insert(both.end(), r.rstd.begin(), r.rstd.end());
      return both;
    });
    for (int r = 0; r < rows; ++r) {
      double sum = 0;
      for (int c = 0; c < cols; ++c) {
        const double v = bf16 ? round_bf16(x[r * cols + c]) : x[r * cols + c];
        sum += v * v;
      }
      const double rstd = 1.0 / std::sqrt(sum / cols + eps);
      EXPECT_NEAR(result[rows * cols + r], rstd, 1e-5 * rstd) << "row " << r;
      for (int c = 0; c < cols; ++c) {
        const double xv = bf16 ? round_bf16(x[r * cols + c]) : x[r * cols + c];
        const double wv = bf16 ? round_bf16(weight[c]) : weight[c];
        const double expected = xv * rstd * wv;
        // fp32: a few ulps; bf16: the output's rounding (2^-8 relative) dominates.
        const double tolerance = bf16 ? std::fabs(expected) * 0x1p-8 + 1e-6 : std::fabs(expected) * 1e-5 + 1e-6;
        ASSERT_NEAR(result[r * cols + c], expected, tolerance) << (bf16 ? "bf16" : "fp32") << " row " << r << " col " << c;
      }
    }
  }
}

}  // namespace
