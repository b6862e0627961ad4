// The emulator's twin of dg::cuda::gemm (the cuBLASLt wrapper) against a double-precision
// reference: every transpose combination, leading dimensions, batch strides, fp32 and bf16.
#include <gtest/gtest.h>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstring>

#include "core/rng.h"
#include "cuda_check.cuh"
#include "emu_test_util.h"
#include "gemm.h"

namespace {

using dg::cuda::Gemm;
using dg::cuda::GemmType;

// Host matrices kept as doubles (bf16-representable when the type is bf16) and copied to device
// memory in the GEMM's storage type.
struct Operand {
  GemmType type;
  std::vector<double> values;
  void* device = nullptr;

  Operand(GemmType t, size_t count, dg::Rng& rng) : type(t), values(count) {
    for (double& v : values) {
      v = rng.normal();
      if (type == GemmType::BF16) v = __bfloat162float(__float2bfloat16(static_cast<float>(v)));
      else v = static_cast<float>(v);
    }
    DG_CUDA_CHECK(cudaMalloc(&device, count * element_bytes()));
    upload();
  }
  ~Operand() { cudaFree(device); }
  Operand(const Operand&) = delete;
  Operand& operator=(const Operand&) = delete;

  size_t element_bytes() const { return type == GemmType::BF16 ? 2 : 4; }
  void upload() {
    std::vector<char> bytes(values.size() * element_bytes());
    for (size_t i = 0; i < values.size(); ++i) {
      if (type == GemmType::BF16) {
        const __nv_bfloat16 b = __float2bfloat16(static_cast<float>(values[i]));
        std::memcpy(&bytes[2 * i], &b, 2);
      } else {
        const float f = static_cast<float>(values[i]);
        std::memcpy(&bytes[4 * i], &f, 4);
      }
    }
    DG_CUDA_CHECK(cudaMemcpy(device, bytes.data(), bytes.size(), cudaMemcpyHostToDevice));
  }
  std::vector<double> download() const {
    std::vector<char> bytes(values.size() * element_bytes());
    DG_CUDA_CHECK(cudaMemcpy(bytes.data(), device, bytes.size(), cudaMemcpyDeviceToHost));
    std::vector<double> out(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      if (type == GemmType::BF16) {
        __nv_bfloat16 b;
        std::memcpy(&b, &bytes[2 * i], 2);
        out[i] = __bfloat162float(b);
      } else {
        float f;
        std::memcpy(&f, &bytes[4 * i], 4);
        out[i] = f;
      }
    }
    return out;
  }
};

struct Case {
  int64_t m, n, k, batch;
  bool ta, tb;
  int64_t pad_a, pad_b, pad_c;  // leading dimension beyond the stored columns
  GemmType in, out;
  float alpha, beta;
};

// Runs one case through dg::cuda::gemm and checks every element of C (padding included: the
// elements between rows and between batches must be left alone) against the double reference.
void check_case(const Case& t, uint64_t seed) {
  dg::Rng rng(seed);
  const int64_t a_rows = t.ta ? t.k : t.m, a_cols = t.ta ? t.m : t.k;
  const int64_t b_rows = t.tb ? t.n : t.k, b_cols = t.tb ? t.k : t.n;
  const int64_t lda = a_cols + t.pad_a, ldb = b_cols + t.pad_b, ldc = t.n + t.pad_c;
  const int64_t stride_a = a_rows * lda + 3, stride_b = t.batch > 1 ? b_rows * ldb + 5 : 0, stride_c = t.m * ldc + 2;
  Operand a(t.in, static_cast<size_t>(stride_a * t.batch), rng);
  Operand b(t.in, static_cast<size_t>(std::max<int64_t>(stride_b * t.batch, b_rows * ldb)), rng);
  Operand c(t.out, static_cast<size_t>(stride_c * t.batch), rng);
  Gemm g;
  g.m = t.m, g.n = t.n, g.k = t.k, g.batch = t.batch;
  g.a = {a.device, t.in, t.ta, lda, stride_a};
  g.b = {b.device, t.in, t.tb, ldb, stride_b};
  g.c = {c.device, t.out, ldc, stride_c};
  g.alpha = t.alpha, g.beta = t.beta;
  dg::cuda::gemm(g);
  const std::vector<double> got = c.download();
  std::vector<double> expected = c.values;
  for (int64_t p = 0; p < t.batch; ++p)
    for (int64_t i = 0; i < t.m; ++i)
      for (int64_t j = 0; j < t.n; ++j) {
        double sum = 0, magnitude = 0;
        for (int64_t l = 0; l < t.k; ++l) {
          const double av = a.values[p * stride_a + (t.ta ? l * lda + i : i * lda + l)];
          const double bv = b.values[p * stride_b + (t.tb ? j * ldb + l : l * ldb + j)];
          sum += av * bv;
          magnitude += std::fabs(av * bv);
        }
        double& e = expected[p * stride_c + i * ldc + j];
        magnitude = std::fabs(t.alpha) * magnitude + std::fabs(t.beta * e);
        e = t.alpha * sum + (t.beta == 0.0f ? 0.0 : t.beta * e);
        const double got_value = got[p * stride_c + i * ldc + j];
        // fp32 accumulation error, plus half a bf16 ulp when the output is bf16.
        const double tolerance = 1e-6 * magnitude * std::sqrt(static_cast<double>(t.k)) + 1e-6 +
                                 (t.out == GemmType::BF16 ? std::fabs(e) * 0x1p-8 : 0.0);
        ASSERT_NEAR(got_value, e, tolerance) << "batch " << p << " C(" << i << "," << j << ")";
        e = got_value;
      }
  EXPECT_TRUE(dg::test::bits_equal(got, expected)) << "gemm wrote outside C's rows or batches";
}

TEST(EmuGemm, EveryTransposeWithPaddedLeadingDimensionsAndBatches) {
  uint64_t seed = 1;
  for (GemmType in : {GemmType::F32, GemmType::BF16})
    for (GemmType out : {GemmType::F32, GemmType::BF16}) {
      if (in == GemmType::F32 && out == GemmType::BF16) continue;
      for (bool ta : {false, true})
        for (bool tb : {false, true}) {
          SCOPED_TRACE(testing::Message() << "in " << (in == GemmType::BF16 ? "bf16" : "f32") << " out "
                                          << (out == GemmType::BF16 ? "bf16" : "f32") << " ta " << ta << " tb " << tb);
          check_case({13, 7, 19, 1, ta, tb, 0, 0, 0, in, out, 1.0f, 0.0f}, seed++);
          check_case({9, 11, 33, 3, ta, tb, 5, 2, 4, in, out, 0.5f, 1.0f}, seed++);
          check_case({1, 17, 8, 2, ta, tb, 1, 0, 3, in, out, -2.0f, 0.25f}, seed++);
        }
    }
}

TEST(EmuGemm, BetaZeroNeverReadsC) {
  dg::Rng rng(9);
  for (GemmType out : {GemmType::F32, GemmType::BF16}) {
    Operand a(GemmType::BF16, 4 * 8, rng), b(GemmType::BF16, 8 * 5, rng), c(out, 4 * 5, rng);
    DG_CUDA_CHECK(cudaMemset(c.device, 0xFF, c.values.size() * c.element_bytes()));  // NaN everywhere
    Gemm g;
    g.m = 4, g.n = 5, g.k = 8;
    g.a = {a.device, GemmType::BF16, false, 8, 0};
    g.b = {b.device, GemmType::BF16, false, 5, 0};
    g.c = {c.device, out, 5, 0};
    dg::cuda::gemm(g);
    for (double v : c.download()) EXPECT_FALSE(std::isnan(v));
  }
}

TEST(EmuGemm, Bf16OutputRoundsToNearestEven) {
  // 1 + 2^-8 + 2^-9·k lies between bf16 neighbours 1 + 2^-7·j; sums chosen on the ties check
  // round-half-to-even, and one just above a tie checks round-to-nearest (truncation fails both).
  dg::Rng rng(1);
  Operand a(GemmType::BF16, 2, rng), b(GemmType::BF16, 2, rng), c(GemmType::BF16, 1, rng);
  const struct {
    double x, y, expected;
  } cases[] = {
      {1.0, 0x1p-8, 1.0},                    // 1 + 2^-8: tie between 1 and 1 + 2^-7 -> even (1)
      {1.0 + 0x1p-7, 0x1p-8, 1.0 + 0x1p-6},  // tie between 1 + 2^-7 (odd) and 1 + 2^-6 -> even (1 + 2^-6)
      {1.0, 0x1p-8 + 0x1p-12, 1.0 + 0x1p-7}  // just above the tie -> up
  };
  for (const auto& t : cases) {
    a.values = {t.x, 1.0};
    b.values = {1.0, t.y};
    a.upload();
    b.upload();
    Gemm g;
    g.m = 1, g.n = 1, g.k = 2;
    g.a = {a.device, GemmType::BF16, false, 2, 0};
    g.b = {b.device, GemmType::BF16, false, 1, 0};
    g.c = {c.device, GemmType::BF16, 1, 0};
    dg::cuda::gemm(g);
    EXPECT_EQ(c.download()[0], t.expected) << t.x << " + " << t.y;
  }
}

TEST(EmuGemm, BadArgumentsAreClearErrors) {
  dg::Rng rng(2);
  Operand a(GemmType::F32, 64, rng), b(GemmType::F32, 64, rng), c(GemmType::F32, 64, rng);
  auto base = [&] {
    Gemm g;
    g.m = 4, g.n = 4, g.k = 4;
    g.a = {a.device, GemmType::F32, false, 4, 0};
    g.b = {b.device, GemmType::F32, false, 4, 0};
    g.c = {c.device, GemmType::F32, 4, 0};
    return g;
  };
  auto message = [](const Gemm& g) { return dg::test::error_of([&] { dg::cuda::gemm(g); }); };
  Gemm g = base();
  g.a.ld = 3;
  EXPECT_NE(message(g).find("A.ld = 3 is less than the 4 columns of A as stored ([m, k])"), std::string::npos) << message(g);
  g = base();
  g.b.type = GemmType::BF16;
  EXPECT_NE(message(g).find("A is f32 but B is bf16"), std::string::npos) << message(g);
  g = base();
  g.c.type = GemmType::BF16;
  EXPECT_NE(message(g).find("f32 inputs need an f32 output"), std::string::npos) << message(g);
  g = base();
  g.batch = 2;
  g.c.batch_stride = 8;
  EXPECT_NE(message(g).find("makes the batches of C overlap"), std::string::npos) << message(g);
  g = base();
  g.m = 20;  // C would run past its 64-float allocation
  g.a.batch_stride = 0;
  EXPECT_NE(message(g).find("runs"), std::string::npos) << message(g);
  EXPECT_NE(message(g).find("past the end of a 256-byte device allocation"), std::string::npos) << message(g);
}

}  // namespace
