// The CUDA RMSNorm and rotary embedding (kernels/ops_norm_rope.cu) against the CPU reference: odd
// row lengths and counts (1 × 1, rows longer than a warp's stride, more rows than one launch's warps),
// the NaN contract for overflowing rows, ADD semantics of the backward, rope at positions past 1000,
// with start > 0 (DART's memory tokens stay bit-identical), start = seq, the inverse, bit-identical
// results across runs and emulator schedules, and the CPU backend's argument errors.
//
// Tolerances (u = 2^-24, the fp32 unit roundoff), from the orders in which the two backends sum:
//  - rmsnorm_forward: Σx² over `dim` positive terms has a relative error ≤ dim·u in either order, so
//    the two sums differ by ≤ 2·dim·u relative; the square root halves that, and the division, the
//    root and the scaling of x add one rounding each per backend: rstd to (dim + 6)·u relative,
//    out to (dim + 8)·u relative (no absolute part: nothing cancels).
//  - rmsnorm_backward: dot = Σ dout·x may cancel; per element the bound is computed from the data:
//    |x|·rstd³/dim·(2·dim·u·Σ|dout·x|) for the dot, plus 8u (4 roundings, 2 backends) of
//    |dx₀| + rstd·|dout| + |coeff·x| and of the coefficient.
//  - rope: the angle is the same float on both sides (inv_freq from the same host powf, one fp32
//    multiply), cosf/sinf are within 2 ulp (CUDA) and 1 ulp (glibc) of its cos/sin, so they differ
//    by ≤ 3u; a·c + b·s then differs by ≤ 3u·(|a| + |b|) from those and by ≤ 3 roundings per
//    backend of |a| + |b|: 9u·(|a| + |b|) ≤ 18u·max|x|.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <functional>
#include <sstream>

#include "backend_pair.h"
#include "core/error.h"
#ifdef DARTGOLF_CUDA_EMULATED
#include "emu/control.h"
#endif

namespace dg {
namespace {

constexpr double kRoundoff = 0x1p-24;

// Every element within its own bound: |cuda − cpu| ≤ bound[i] (NaN only where both are NaN).
::testing::AssertionResult within(const std::vector<float>& cuda, const std::vector<float>& cpu,
                                  const std::vector<double>& bound) {
  for (size_t i = 0; i < cpu.size(); ++i) {
    if (std::isnan(cpu[i]) || std::isnan(cuda[i])) {
      if (std::isnan(cpu[i]) != std::isnan(cuda[i]))
        return ::testing::AssertionFailure() << "element " << i << ": cpu " << cpu[i] << ", cuda " << cuda[i];
      continue;
    }
    const double diff = std::abs(static_cast<double>(cuda[i]) - cpu[i]);
    if (diff > bound[i])
      return ::testing::AssertionFailure() << "element " << i << ": cpu " << cpu[i] << ", cuda " << cuda[i]
                                           << ", |diff| " << diff << " > bound " << bound[i];
  }
  return ::testing::AssertionSuccess();
}

// Runs `run` (which returns the CUDA results) twice: under the emulator with schedule seeds 0 and
// 12345, on a GPU back to back; the bits must agree.
void expect_bit_identical(const std::function<std::vector<float>()>& run) {
  std::vector<std::vector<float>> results;
#ifdef DARTGOLF_CUDA_EMULATED
  for (uint64_t seed : {0, 12345}) {
    emu::ScopedScheduleSeed scoped(seed);
    results.push_back(run());
  }
#else
  results.push_back(run());
  results.push_back(run());
#endif
  ASSERT_EQ(results[0].size(), results[1].size());
  EXPECT_EQ(std::memcmp(results[0].data(), results[1].data(), results[0].size() * sizeof(float)), 0);
}

// Both backends throw, with the same message.
void expect_same_error(test::BackendPair& pair, const std::string& what,
                       const std::function<void(Backend&, bool)>& call) {
  std::string messages[2];
  for (bool cuda : {false, true}) {
    try {
      call(cuda ? pair.cuda() : pair.cpu(), cuda);
      ADD_FAILURE() << what << ": no error from the " << (cuda ? "CUDA" : "CPU") << " backend";
    } catch (const Error& e) {
      messages[cuda] = e.what();
    }
  }
  EXPECT_EQ(messages[0], messages[1]) << what;
  EXPECT_FALSE(messages[1].empty()) << what;
}

// ---- RMSNorm -------------------------------------------------------------------------------------------

struct Rows {
  int64_t rows, dim;
};

// 1 × 1; dims under, at and over the warp's 32 (and 513: 17 strided loads a lane); 9000 rows: more
// than the 1024 blocks × 8 warps of one launch, so warps take several rows.
const std::vector<Rows> kRowShapes{{1, 1}, {3, 64}, {37, 100}, {5, 513}, {4, 1024}, {9000, 3}};

TEST(CudaRmsnorm, ForwardMatchesCpu) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  uint64_t seed = 1;
  for (const Rows& r : kRowShapes) {
    for (float eps : {FLT_EPSILON, 1e-5f}) {
      SCOPED_TRACE(std::to_string(r.rows) + "×" + std::to_string(r.dim) + " eps " + std::to_string(eps));
      const test::TensorPair x = pair.random({r.rows, r.dim}, seed++, -2.0f, 2.0f);
      const test::TensorPair out = pair.constant({r.rows, r.dim}, 7.0f), rstd = pair.constant({r.rows}, 7.0f);
      pair.run([&](Backend& b, bool cuda) { b.rmsnorm_forward(out.on(cuda), rstd.on(cuda), x.on(cuda), eps); });
      const double d = static_cast<double>(r.dim);
      EXPECT_TRUE(pair.close(rstd, 0.0, (d + 6) * kRoundoff));
      EXPECT_TRUE(pair.close(out, 0.0, (d + 8) * kRoundoff));
    }
  }
}

TEST(CudaRmsnorm, BackwardAddsTheCpuGradient) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  uint64_t seed = 100;
  for (const Rows& r : kRowShapes) {
    SCOPED_TRACE(std::to_string(r.rows) + "×" + std::to_string(r.dim));
    const test::TensorPair x = pair.random({r.rows, r.dim}, seed++, -2.0f, 2.0f);
    const test::TensorPair dout = pair.random({r.rows, r.dim}, seed++);
    const test::TensorPair dx = pair.random({r.rows, r.dim}, seed++);  // non-zero: the op adds
    // rstd from the CPU forward, given to both.
    const test::TensorPair out = pair.zeros({r.rows, r.dim}), rstd = pair.zeros({r.rows});
    pair.cpu().rmsnorm_forward(out.cpu, rstd.cpu, x.cpu, FLT_EPSILON);
    const std::vector<float> inv = pair.cpu_values(rstd);
    pair.cuda().copy_from_host(rstd.cuda, inv.data());
    const std::vector<float> xs = pair.cpu_values(x), gs = pair.cpu_values(dout), dx0 = pair.cpu_values(dx);
    pair.run([&](Backend& b, bool cuda) { b.rmsnorm_backward(dx.on(cuda), dout.on(cuda), x.on(cuda), rstd.on(cuda)); });

    std::vector<double> bound(xs.size());
    for (int64_t row = 0; row < r.rows; ++row) {
      double abs_dot = 0.0, dot = 0.0;
      for (int64_t c = 0; c < r.dim; ++c) {
        const size_t i = static_cast<size_t>(row * r.dim + c);
        abs_dot += std::abs(static_cast<double>(gs[i]) * xs[i]);
        dot += static_cast<double>(gs[i]) * xs[i];
      }
      const double s = inv[static_cast<size_t>(row)], coeff = s * s * s * dot / static_cast<double>(r.dim);
      // rstd³/dim · (2·dim·u·Σ|dout·x|) from the dot, 8u of the coefficient from its roundings.
      const double dcoeff = s * s * s * 2.0 * kRoundoff * abs_dot + 8.0 * kRoundoff * std::abs(coeff);
      for (int64_t c = 0; c < r.dim; ++c) {
        const size_t i = static_cast<size_t>(row * r.dim + c);
        bound[i] = std::abs(xs[i]) * dcoeff +
                   8.0 * kRoundoff * (std::abs(dx0[i]) + s * std::abs(gs[i]) + std::abs(coeff * xs[i]));
      }
    }
    EXPECT_TRUE(within(pair.cuda_values(dx), pair.cpu_values(dx), bound));
  }
}

// The CPU contract: a row whose Σx² overflows, or holds a NaN, gets rstd = NaN (and NaN outputs), not
// rsqrt(inf) = 0; an all-zero row gets 1/sqrt(eps); the other rows are unaffected.
TEST(CudaRmsnorm, OverflowingRowsAreNaN) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  const int64_t dim = 40;
  std::vector<float> values(static_cast<size_t>(4 * dim));
  for (int64_t c = 0; c < dim; ++c) {
    values[static_cast<size_t>(c)] = 0.25f * static_cast<float>(c % 5) - 0.5f;  // an ordinary row
    values[static_cast<size_t>(dim + c)] = 1e20f;                               // (1e20)² overflows fp32
    values[static_cast<size_t>(2 * dim + c)] = c == 7 ? NAN : 1.0f;             // one NaN
    values[static_cast<size_t>(3 * dim + c)] = 0.0f;                            // all zero
  }
  const test::TensorPair x = pair.from_host({4, dim}, values), out = pair.zeros({4, dim}), rstd = pair.zeros({4});
  pair.run([&](Backend& b, bool cuda) { b.rmsnorm_forward(out.on(cuda), rstd.on(cuda), x.on(cuda), FLT_EPSILON); });
  const std::vector<float> r = pair.cuda_values(rstd);
  EXPECT_FALSE(std::isnan(r[0]));
  EXPECT_TRUE(std::isnan(r[1]));
  EXPECT_TRUE(std::isnan(r[2]));
  EXPECT_EQ(r[3], 1.0f / std::sqrt(FLT_EPSILON));
  EXPECT_TRUE(pair.close(rstd, 0.0, (dim + 6) * kRoundoff));  // NaN exactly where the CPU has NaN
  EXPECT_TRUE(pair.close(out, 0.0, (dim + 8) * kRoundoff));
}

TEST(CudaRmsnorm, BitIdenticalAcrossRunsAndSchedules) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  const test::TensorPair x = pair.random({50, 200}, 7), dout = pair.random({50, 200}, 8);
  expect_bit_identical([&] {
    const test::TensorPair out = pair.zeros({50, 200}), rstd = pair.zeros({50}), dx = pair.zeros({50, 200});
    pair.cuda().rmsnorm_forward(out.cuda, rstd.cuda, x.cuda, FLT_EPSILON);
    pair.cuda().rmsnorm_backward(dx.cuda, dout.cuda, x.cuda, rstd.cuda);
    std::vector<float> all = pair.cuda_values(out);
    for (const test::TensorPair* t : {&rstd, &dx}) {
      const std::vector<float> v = pair.cuda_values(*t);
      all.insert(all.end(), v.begin(), v.end());
    }
    return all;
  });
}

TEST(CudaRmsnorm, BadArgumentsAreTheSameErrors) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  const test::TensorPair x = pair.random({4, 6}, 1), out = pair.zeros({4, 6}), rstd = pair.zeros({4});
  const test::TensorPair out_wide = pair.zeros({4, 7}), rstd_short = pair.zeros({3}), dout_tall = pair.zeros({5, 6});
  expect_same_error(pair, "out of another width",
                    [&](Backend& b, bool c) { b.rmsnorm_forward(out_wide.on(c), rstd.on(c), x.on(c), 1e-6f); });
  expect_same_error(pair, "rstd too short",
                    [&](Backend& b, bool c) { b.rmsnorm_forward(out.on(c), rstd_short.on(c), x.on(c), 1e-6f); });
  expect_same_error(pair, "out is x",
                    [&](Backend& b, bool c) { b.rmsnorm_forward(x.on(c), rstd.on(c), x.on(c), 1e-6f); });
  expect_same_error(pair, "dout of other rows",
                    [&](Backend& b, bool c) { b.rmsnorm_backward(out.on(c), dout_tall.on(c), x.on(c), rstd.on(c)); });
  expect_same_error(pair, "backward rstd too short",
                    [&](Backend& b, bool c) { b.rmsnorm_backward(out.on(c), x.on(c), x.on(c), rstd_short.on(c)); });
}

// ---- RoPE ----------------------------------------------------------------------------------------------

struct RopeCase {
  int64_t batch, seq, heads, head_dim, start;
  float base;
};

std::string describe(const RopeCase& c) {
  std::ostringstream s;
  s << "x [" << c.batch << ", " << c.seq << ", " << c.heads << ", " << c.head_dim << "] start " << c.start << " base "
    << c.base;
  return s.str();
}

const std::vector<RopeCase> kRopeCases{
    {2, 70, 3, 64, 0, 10000.0f},     // the models' case, 3 heads
    {1, 1100, 2, 64, 0, 10000.0f},   // positions past 1000: angles up to ~1100 rad
    {1, 1030, 1, 128, 3, 500000.0f}, // another base and head dim, start > 0
    {2, 40, 3, 32, 16, 10000.0f},    // DART-like: 16 memory tokens left as they are
    {3, 5, 1, 2, 1, 10000.0f},       // head_dim 2: one frequency
    {1, 10, 2, 128, 10, 10000.0f},   // start = seq: nothing to rotate
};

// Max |x| over the tensor (the inputs are in [-1, 1]).
double max_abs(const std::vector<float>& v) {
  double m = 0.0;
  for (float f : v) m = std::max(m, std::abs(static_cast<double>(f)));
  return m;
}

TEST(CudaRope, ForwardAndInverseMatchCpu) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  uint64_t seed = 1;
  for (const RopeCase& c : kRopeCases) {
    SCOPED_TRACE(describe(c));
    const test::TensorPair x = pair.random({c.batch, c.seq, c.heads, c.head_dim}, seed++);
    const std::vector<float> original = pair.cpu_values(x);
    const double atol = 18.0 * kRoundoff * max_abs(original);
    pair.run([&](Backend& b, bool cuda) { b.rope(x.on(cuda), c.base, c.start, false); });
    EXPECT_TRUE(pair.close(x, atol, 0.0));
    // Positions before start are not touched: the same bits as before.
    const std::vector<float> rotated = pair.cuda_values(x);
    const size_t untouched = static_cast<size_t>(c.start * c.heads * c.head_dim);
    for (int64_t b = 0; b < c.batch; ++b) {
      const size_t at = static_cast<size_t>(b * c.seq * c.heads * c.head_dim);
      EXPECT_EQ(std::memcmp(rotated.data() + at, original.data() + at, untouched * sizeof(float)), 0) << "batch " << b;
    }
    // The inverse (the backward) on the rotated values: matches the CPU's, and brings x back.
    pair.run([&](Backend& b, bool cuda) { b.rope(x.on(cuda), c.base, c.start, true); });
    EXPECT_TRUE(pair.close(x, 2.0 * atol, 0.0));
    const std::vector<float> back = pair.cuda_values(x);
    double worst = 0.0;
    for (size_t i = 0; i < back.size(); ++i)
      worst = std::max(worst, std::abs(static_cast<double>(back[i]) - original[i]));
    EXPECT_LE(worst, 2.0 * atol) << "rope then its inverse does not return x";
  }
}

TEST(CudaRope, BitIdenticalAcrossRunsAndSchedules) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  const std::vector<float> values = pair.cpu_values(pair.random({2, 90, 4, 64}, 9));
  expect_bit_identical([&] {
    const test::TensorPair x = pair.from_host({2, 90, 4, 64}, values);
    pair.cuda().rope(x.cuda, 10000.0f, 5, false);
    std::vector<float> all = pair.cuda_values(x);
    pair.cuda().rope(x.cuda, 10000.0f, 5, true);
    const std::vector<float> back = pair.cuda_values(x);
    all.insert(all.end(), back.begin(), back.end());
    return all;
  });
}

TEST(CudaRope, BadArgumentsAreTheSameErrors) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  const test::TensorPair x = pair.random({1, 6, 2, 8}, 1), odd = pair.random({1, 6, 2, 7}, 2);
  expect_same_error(pair, "rank 3", [&](Backend& b, bool c) { b.rope(x.on(c).view({6, 2, 8}), 10000.0f, 0, false); });
  expect_same_error(pair, "odd head_dim", [&](Backend& b, bool c) { b.rope(odd.on(c), 10000.0f, 0, false); });
  expect_same_error(pair, "start past seq", [&](Backend& b, bool c) { b.rope(x.on(c), 10000.0f, 7, false); });
  expect_same_error(pair, "negative start", [&](Backend& b, bool c) { b.rope(x.on(c), 10000.0f, -1, true); });
  expect_same_error(pair, "base 0", [&](Backend& b, bool c) { b.rope(x.on(c), 0.0f, 0, false); });
  // A CUDA-only limit: the frequencies travel as a kernel argument of at most 256 floats.
  const test::TensorPair wide = pair.random({1, 2, 1, 514}, 3);
  try {
    pair.cuda().rope(wide.cuda, 10000.0f, 0, false);
    ADD_FAILURE() << "head_dim 514 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rope: the CUDA backend supports head_dim up to 512"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace dg
