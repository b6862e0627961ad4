// The CUDA backend's Adam, Newton–Schulz and per-row fake quantization against the CPU reference:
// Adam at step 1 and step 100 within a per-element rounding bound, Newton–Schulz on wide, tall,
// square, one-row and one-column matrices with 0, 1 and 5 steps, fake quant bit for bit on rows
// with ties, zeros, outliers, single columns, the models' widths and rows long enough to leave the
// top two ranks; the CPU's argument errors; bit-identical results under every emulator schedule.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "backend_pair.h"
#include "core/error.h"
#include "core/rng.h"
#include "schedule_seeds.h"
#include "test_support.h"

namespace dg {
namespace {

using test::BackendPair;
using test::TensorPair;

constexpr double kU = 1.0 / (1 << 24);  // fp32 unit roundoff

std::vector<float> uniform(int64_t n, uint64_t seed, float lo, float hi) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = static_cast<float>(rng.uniform(lo, hi));
  return v;
}

// ---- Adam -----------------------------------------------------------------------------------------------

// Both backends evaluate the CPU's expressions in fp32, but a compiler may fuse b·m + (1−b)·g into
// one FMA (g++ does for the CPU build, nvcc by default), so each result may round differently. Per
// element, from the CPU's own values: each evaluation of m' = b1·m + (1−b1)·g errs by at most
// u·(|b1·m| + |(1−b1)·g| + |m'|), so two differ by twice that; likewise v' with its extra product;
// denom = sqrt(v')/√bc2 + eps inherits half of v's relative difference plus 3 roundings each side;
// the step s·m'/denom adds m's difference scaled by s/denom and 2 roundings each side; p' one more.
void expect_adam_within_rounding(BackendPair& pair, const TensorPair& param, const TensorPair& m, const TensorPair& v,
                                 const std::vector<float>& p0, const std::vector<float>& g,
                                 const std::vector<float>& m0, const std::vector<float>& v0, const AdamHyper& h) {
  const double bc1 = 1.0 - std::pow(static_cast<double>(h.beta1), static_cast<double>(h.step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(h.beta2), static_cast<double>(h.step));
  const double step = static_cast<float>(h.lr / bc1), bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const double b1 = static_cast<float>(h.beta1), b2 = static_cast<float>(h.beta2);
  const std::vector<float> p_cpu = pair.cpu_values(param), p_gpu = pair.cuda_values(param);
  const std::vector<float> m_cpu = pair.cpu_values(m), m_gpu = pair.cuda_values(m);
  const std::vector<float> v_cpu = pair.cpu_values(v), v_gpu = pair.cuda_values(v);
  int64_t moved = 0;
  for (size_t i = 0; i < p0.size(); ++i) {
    const double m_bound = 2 * kU * (std::abs(b1 * m0[i]) + std::abs((1 - b1) * g[i]) + std::abs(m_cpu[i]));
    const double v_bound = 2 * kU * (std::abs(b2 * v0[i]) + 2 * std::abs((1 - b2) * g[i] * g[i]) + std::abs(v_cpu[i]));
    const double denom = std::sqrt(static_cast<double>(v_cpu[i])) / bc2_sqrt + h.eps;
    const double denom_rel = (v_cpu[i] > 0 ? v_bound / (2 * v_cpu[i]) : 0.0) + 6 * kU;
    const double delta = step * m_cpu[i] / denom;
    const double p_bound = step / denom * m_bound + std::abs(delta) * (denom_rel + 4 * kU) + 2 * kU * std::abs(p_cpu[i]);
    ASSERT_LE(std::abs(static_cast<double>(m_gpu[i]) - m_cpu[i]), m_bound) << "m[" << i << "]";
    ASSERT_LE(std::abs(static_cast<double>(v_gpu[i]) - v_cpu[i]), v_bound) << "v[" << i << "]";
    ASSERT_LE(std::abs(static_cast<double>(p_gpu[i]) - p_cpu[i]), p_bound) << "param[" << i << "]";
    moved += p_cpu[i] != p0[i];
  }
  EXPECT_GT(moved, static_cast<int64_t>(p0.size()) / 2);  // the update did something
}

TEST(CudaOptimOps, AdamMatchesTheCpuAtStepOneAndStepHundred) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  const int64_t rows = 37, cols = 29;  // 1073 elements: no block divides them
  for (int64_t step : {int64_t{1}, int64_t{100}}) {
    for (float beta1 : {0.9f, 0.8f}) {
      SCOPED_TRACE("step " + std::to_string(step) + ", beta1 " + std::to_string(beta1));
      AdamHyper h;
      h.lr = 0.04f;
      h.beta1 = beta1;
      h.beta2 = 0.95f;
      h.eps = 1e-8f;
      h.step = step;
      std::vector<float> p0 = uniform(rows * cols, 1 + step, -1.0f, 1.0f), g = uniform(rows * cols, 2, -1.0f, 1.0f);
      std::vector<float> m0 = uniform(rows * cols, 3, -0.1f, 0.1f), v0 = uniform(rows * cols, 4, 0.0f, 0.01f);
      g[0] = m0[0] = v0[0] = 0.0f;  // nothing to do: denom = eps, no update
      g[1] = 0.0f;                  // momentum only
      for (int i = 2; i < 5; ++i) {  // a first, tiny gradient: sqrt(v)/√bc2 below eps, which dominates
        g[i] = (i - 1) * 1e-9f;
        m0[i] = v0[i] = 0.0f;
      }
      const TensorPair param = pair.from_host({rows, cols}, p0), grad = pair.from_host({rows * cols}, g);
      const TensorPair m = pair.from_host({rows, cols}, m0), v = pair.from_host({rows, cols}, v0);
      pair.run([&](Backend& b, bool cuda) { b.adam_update(param.on(cuda), grad.on(cuda), m.on(cuda), v.on(cuda), h); });
      expect_adam_within_rounding(pair, param, m, v, p0, g, m0, v0, h);
      EXPECT_EQ(pair.cuda_values(param)[0], p0[0]);
      EXPECT_TRUE(test::same_bits_every_schedule([&] {
        pair.cuda().copy_from_host(param.cuda, p0.data());
        pair.cuda().copy_from_host(m.cuda, m0.data());
        pair.cuda().copy_from_host(v.cuda, v0.data());
        pair.cuda().adam_update(param.cuda, grad.cuda, m.cuda, v.cuda, h);
        std::vector<float> all = pair.cuda_values(param), mv = pair.cuda_values(m), vv = pair.cuda_values(v);
        all.insert(all.end(), mv.begin(), mv.end());
        all.insert(all.end(), vv.begin(), vv.end());
        return all;
      }));
    }
  }
}

// ---- Newton–Schulz ------------------------------------------------------------------------------------

// Each step X ← aX + (bA + cA²)X, A = XXᵀ, maps a singular value σ through p(σ) = aσ + bσ³ + cσ⁵,
// whose slope stays within |p'| ≤ 4 over the σ ∈ [0, 1.2] the iteration visits: a difference
// between the two backends grows at most 4× per step, plus the step's own rounding. The three
// products (inner dimensions c, r, r ≤ c) round in different orders on the two sides: about
// √c·u relative per product of entries bounded by σ_max² ≤ 1.5², weighted by |a| + |b| + |c|.
// So after s steps the entries differ by at most δ·(4^s − 1)/3, δ = 2·10.26·1.5²·√c·u.
double ns_atol(int steps, int64_t inner) {
  const double delta = 2.0 * 10.26 * 2.25 * std::sqrt(static_cast<double>(inner)) * kU;
  return delta * (std::pow(4.0, steps) - 1.0) / 3.0;
}

TEST(CudaOptimOps, NewtonSchulzMatchesTheCpu) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  struct Shape {
    int64_t rows, cols;
    float scale;  // of g's entries
  };
  // Wide, tall (transposed), square, one row, one column (transposed to one row); then a g so
  // small that the 1e-7 added to its norm matters, and an all-zero g (0/eps: zeros, not NaN).
  for (const Shape s : {Shape{13, 37, 2.0f}, Shape{41, 11, 2.0f}, Shape{24, 24, 2.0f}, Shape{1, 9, 2.0f},
                        Shape{9, 1, 2.0f}, Shape{7, 5, 3e-8f}, Shape{5, 7, 0.0f}}) {
    const int64_t r = std::min(s.rows, s.cols), c = std::max(s.rows, s.cols);
    const TensorPair g = pair.random({s.rows, s.cols}, 50 + s.rows, -s.scale, s.scale);
    const TensorPair workspace = pair.random({2 * r * c + 2 * r * r + 3}, 51);  // garbage in, a little spare
    for (int steps : {0, 1, 5}) {
      SCOPED_TRACE(std::to_string(s.rows) + "×" + std::to_string(s.cols) + ", " + std::to_string(steps) + " steps");
      const TensorPair out = pair.random({s.rows, s.cols}, 52);  // overwritten
      pair.run([&](Backend& b, bool cuda) { b.newton_schulz(out.on(cuda), g.on(cuda), steps, workspace.on(cuda)); });
      if (s.scale == 0.0f) {
        for (float x : pair.cuda_values(out)) ASSERT_EQ(x, 0.0f);
      }
      if (steps == 0) {
        // Only the normalisation (and transposes): the norm is summed in double on both sides, so
        // its float rounding and every quotient are the same.
        EXPECT_TRUE(pair.identical(out));
      } else {
        EXPECT_TRUE(pair.close(out, ns_atol(steps, c), 0.0));
      }
      EXPECT_TRUE(test::same_bits_every_schedule([&] {
        pair.cuda().newton_schulz(out.cuda, g.cuda, steps, workspace.cuda);
        return pair.cuda_values(out);
      }));
    }
  }
}

// precision=bf16: the products follow the matmul rule (bf16 operands, fresh products rounded to
// bf16), as train_gpt.py runs Newton–Schulz in bf16. Against the fp32 reference, one step: each
// operand rounding is ≤ 2^-9 relative, so A = XXᵀ (entries ≤ σ_max² ≤ 1) is off by ≤ 2·2^-9 plus
// its own rounding 2^-9, A² by twice that plus its rounding, and X' = aX + (bA + cA²)X by
// (|b|·3 + |c|·7 + 2·(|b| + |c|))·2^-9·σ_max ≲ 0.12 at most; far below the O(1) of a wrong product.
TEST(CudaOptimOps, NewtonSchulzBf16FollowsTheMatmulRule) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Bf16);
  const TensorPair g = pair.random({13, 37}, 56, -2.0f, 2.0f), workspace = pair.zeros({2 * 13 * 37 + 2 * 13 * 13});
  const TensorPair out = pair.zeros({13, 37});
  pair.run([&](Backend& b, bool cuda) { b.newton_schulz(out.on(cuda), g.on(cuda), 1, workspace.on(cuda)); });
  EXPECT_TRUE(pair.close(out, 0.12, 0.0));
  EXPECT_FALSE(pair.close(out, 1e-5, 0.0)) << "bf16 mode computed the fp32 products";
}

// ---- fake quantization ---------------------------------------------------------------------------------

// Rows that exercise the quantile and the rounding: small weights (the 1/127 scale floor), large
// ones, an outlier, the top two |w| tied, all zeros with a −0, every value equal, values on a
// coarse grid (ties everywhere, including exact halves of the scale), zeros among values, and the
// maximum three times with mixed signs.
std::vector<float> quant_rows(int64_t cols, uint64_t seed) {
  Rng rng(seed);
  const int64_t kinds = 9;
  std::vector<float> w(static_cast<size_t>(kinds * cols));
  for (int64_t k = 0; k < kinds; ++k) {
    float* row = w.data() + k * cols;
    for (int64_t c = 0; c < cols; ++c) {
      const float x = static_cast<float>(rng.uniform(-1.0, 1.0));
      switch (k) {
        case 0: row[c] = 0.1f * x; break;
        case 1: row[c] = 3.0f * x; break;
        case 2: row[c] = c == cols / 2 ? 40.0f : 3.0f * x; break;
        case 3: row[c] = 2.0f * x; break;
        case 4: row[c] = c == cols - 1 ? -0.0f : 0.0f; break;
        case 5: row[c] = 0.7f; break;
        case 6: row[c] = std::round(32.0f * x) / 8.0f; break;
        case 7: row[c] = c % 3 == 0 ? 0.0f : x; break;
        case 8: row[c] = 0.5f * x; break;
      }
    }
    if (k == 3) row[0] = 2.5f, row[std::min<int64_t>(256, cols - 1)] = -2.5f;  // the top two tied, one thread's
    if (k == 8) row[0] = 1.25f, row[cols / 2] = -1.25f, row[cols - 1] = 1.25f;
  }
  return w;
}

TEST(CudaOptimOps, FakeQuantIsBitIdenticalToTheCpu) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  // One column up to the models' widths (512 to 2048) and odd sizes around them.
  for (int64_t cols : {1, 2, 3, 7, 64, 127, 512, 1000, 1024, 1536, 2048}) {
    SCOPED_TRACE(std::to_string(cols) + " columns");
    const std::vector<float> values = quant_rows(cols, 60 + cols);
    const int64_t rows = static_cast<int64_t>(values.size()) / cols;
    const TensorPair w = pair.from_host({rows, cols}, values);
    const TensorPair out = pair.random({rows, cols}, 61);  // overwritten
    pair.run([&](Backend& b, bool cuda) { b.fake_quant_rows_forward(out.on(cuda), w.on(cuda)); });
    EXPECT_TRUE(pair.identical(out));
    EXPECT_TRUE(pair.identical(w));  // the input is left alone
    // In place (out = w), as QAT calls it on a copy of the weights.
    pair.run([&](Backend& b, bool cuda) { b.fake_quant_rows_forward(w.on(cuda), w.on(cuda)); });
    EXPECT_TRUE(pair.identical(w));
    EXPECT_EQ(pair.cuda_values(w), pair.cuda_values(out));
    EXPECT_TRUE(test::same_bits_every_schedule([&] {
      pair.cuda().copy_from_host(w.cuda, values.data());
      pair.cuda().fake_quant_rows_forward(out.cuda, w.cuda);
      return pair.cuda_values(out);
    }));
  }
}

TEST(CudaOptimOps, FakeQuantRoundsHalvesToEven) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  // The CPU unit test's row: the two largest |w| are 127, so clip = 127 and scale = 1 exactly.
  std::vector<float> halves(127, 0.0f);
  halves[0] = halves[3] = 127.0f;
  halves[1] = 2.5f;
  halves[2] = -1.5f;
  halves[4] = 0.5f;
  halves[5] = -126.5f;
  const TensorPair w = pair.from_host({1, 127}, halves), out = pair.zeros({1, 127});
  pair.run([&](Backend& b, bool cuda) { b.fake_quant_rows_forward(out.on(cuda), w.on(cuda)); });
  EXPECT_TRUE(pair.identical(out));
  const std::vector<float> got = pair.cuda_values(out);
  EXPECT_EQ(got[1], 2.0f);
  EXPECT_EQ(got[2], -2.0f);
  EXPECT_EQ(got[4], 0.0f);
  EXPECT_EQ(got[5], -126.0f);
}

// The clip's lerp end − (end − start)·(1 − weight) rounds once (a fused multiply-add), as torch's
// lerp runs on CUDA and as the CPU reference is compiled here. This row's top two |w| were found by
// search among pairs where one rounding and two differ: the scale, and so every value, tells which.
TEST(CudaOptimOps, FakeQuantClipIsTheFusedLerp) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  const int64_t cols = 512;
  const float start = 0x1.d4bc7ap+1f, end = 0x1.c1172p+2f;  // 3.662..., 7.017...
  std::vector<float> values = uniform(cols, 95, -1.0f, 1.0f);
  values[10] = start;
  values[20] = -end;
  const TensorPair w = pair.from_host({1, cols}, values), out = pair.zeros({1, cols});
  pair.run([&](Backend& b, bool cuda) { b.fake_quant_rows_forward(out.on(cuda), w.on(cuda)); });
  EXPECT_TRUE(pair.identical(out));
  const float rank = static_cast<float>(99.99984 / 100.0) * static_cast<float>(cols - 1);
  const float weight = rank - std::floor(rank);
  const float fused = std::fma(-(end - start), 1.0f - weight, end);
  volatile float product = (end - start) * (1.0f - weight);  // volatile: rounded on its own
  const float separate = end - product;
  ASSERT_NE(fused, separate);
  // −end lies beyond the clip: it becomes level −127 of scale clip/127 (w + (q·s − w) is exact here).
  EXPECT_EQ(pair.cuda_values(out)[20], -127.0f * (fused / 127.0f));
  EXPECT_NE(-127.0f * (fused / 127.0f), -127.0f * (separate / 127.0f));
}

// torch.quantile's rank q·(n−1) in float first rounds to an integer at n = 601,962 (n − 2, weight 0:
// the runner-up alone), and first leaves the top two at 640,798; at 700,001 columns it needs the 3rd
// and 2nd largest |w| (the radix-select path).
TEST(CudaOptimOps, FakeQuantLongRowsBeyondTheTopTwo) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  for (int64_t cols : {int64_t{601962}, int64_t{700001}}) {
    SCOPED_TRACE(std::to_string(cols) + " columns");
    // One row of continuous values and, beyond the top-two boundary, one on a grid (ties at every rank).
    const int64_t rows = cols > 601962 ? 2 : 1;
    // |w| up to 3 and 4: the clip sets the scale (above the 1/127 floor), so every rank shows.
    std::vector<float> values = uniform(rows * cols, 70 + cols, -3.0f, 3.0f);
    for (int64_t c = cols; c < rows * cols; ++c) values[c] = std::round(values[c] * 85.0f) / 64.0f;
    const TensorPair w = pair.from_host({rows, cols}, values), out = pair.zeros({rows, cols});
    pair.run([&](Backend& b, bool cuda) { b.fake_quant_rows_forward(out.on(cuda), w.on(cuda)); });
    EXPECT_TRUE(pair.identical(out));
  }
}

// ---- argument errors -------------------------------------------------------------------------------------

TEST(CudaOptimOps, BadArgumentsAreTheCpuErrors) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  const TensorPair p = pair.random({4, 5}, 80), g = pair.random({4, 5}, 81), g_short = pair.random({19}, 82);
  const TensorPair m = pair.zeros({20}), v = pair.zeros({20});
  AdamHyper step0;
  step0.step = 0;
  const TensorPair ns_g = pair.random({6, 4}, 83), ns_out = pair.zeros({6, 4});
  const TensorPair ws = pair.zeros({2 * 6 * 4 + 2 * 4 * 4}), small_ws = pair.zeros({2 * 6 * 4 + 2 * 4 * 4 - 1});
  const TensorPair buffer = pair.random({5, 4}, 84), w3 = pair.random({2, 3, 4}, 85);
  const std::vector<std::function<void(Backend&, bool)>> mistakes = {
      [&](Backend& b, bool c) { b.adam_update(p.on(c), g.on(c), m.on(c), v.on(c), step0); },
      [&](Backend& b, bool c) { b.adam_update(p.on(c), g_short.on(c), m.on(c), v.on(c), AdamHyper{}); },
      [&](Backend& b, bool c) { b.adam_update(p.on(c), g.on(c), m.on(c), g_short.on(c), AdamHyper{}); },
      [&](Backend& b, bool c) { b.newton_schulz(ns_out.on(c), ns_g.on(c), -1, ws.on(c)); },
      [&](Backend& b, bool c) { b.newton_schulz(ns_out.on(c), ns_g.on(c), 5, small_ws.on(c)); },
      [&](Backend& b, bool c) { b.newton_schulz(ns_g.on(c), ns_g.on(c), 5, ws.on(c)); },
      [&](Backend& b, bool c) { b.newton_schulz(ns_out.on(c), ns_g.on(c).view({4, 6}), 5, ws.on(c)); },
      [&](Backend& b, bool c) { b.newton_schulz(ns_out.on(c), ns_g.on(c), 5, ns_out.on(c)); },
      [&](Backend& b, bool c) { b.fake_quant_rows_forward(w3.on(c), w3.on(c)); },
      [&](Backend& b, bool c) { b.fake_quant_rows_forward(p.on(c), buffer.on(c)); },
      [&](Backend& b, bool c) { b.fake_quant_rows_forward(buffer.on(c).slice(1, 5), buffer.on(c).slice(0, 4)); },
  };
  for (size_t i = 0; i < mistakes.size(); ++i) {
    const std::string cpu = test::error_of([&] { mistakes[i](pair.cpu(), false); });
    const std::string cuda = test::error_of([&] { mistakes[i](pair.cuda(), true); });
    EXPECT_FALSE(cpu.empty()) << "mistake " << i;
    EXPECT_EQ(cuda, cpu) << "mistake " << i;
  }
  EXPECT_THROW(pair.cuda().adam_update(p.cpu, g.cuda, m.cuda, v.cuda, AdamHyper{}), Error);
}

// A diverged run's weights are refused, naming the first non-finite element, before anything is
// written (the call is in place in QAT).
TEST(CudaOptimOps, FakeQuantRefusesNonFiniteWeightsLikeTheCpu) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  for (const std::vector<std::pair<int, float>>& bad :
       {std::vector<std::pair<int, float>>{{5, std::numeric_limits<float>::quiet_NaN()}},
        {{9, std::numeric_limits<float>::quiet_NaN()}, {2, -std::numeric_limits<float>::infinity()}},
        {{3000, std::numeric_limits<float>::infinity()}, {2999, 0.0f}}}) {
    std::vector<float> values = uniform(4 * 1000, 90, -1.0f, 1.0f);
    for (auto [i, x] : bad) values[i] = x;
    const TensorPair w = pair.from_host({4, 1000}, values);
    const std::string cpu = test::error_of([&] { pair.cpu().fake_quant_rows_forward(w.cpu, w.cpu); });
    const std::string cuda = test::error_of([&] { pair.cuda().fake_quant_rows_forward(w.cuda, w.cuda); });
    EXPECT_NE(cpu.find("is not finite"), std::string::npos) << cpu;
    EXPECT_EQ(cuda, cpu);
    const std::vector<float> after = pair.cuda_values(w);
    EXPECT_EQ(std::memcmp(after.data(), values.data(), values.size() * sizeof(float)), 0) << "w was modified";
  }
}

}  // namespace
}  // namespace dg
