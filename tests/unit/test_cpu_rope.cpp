// Rotary embedding against train_gpt.py's apply_rotary_emb worked by hand on a small case, the
// memory-token offset (start), and that every head of a position gets the same rotation.
#include <gtest/gtest.h>

#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "cpu_test_util.h"

namespace dg::test {
namespace {

using FVec = std::vector<float>;

// apply_rotary_emb with hd = 4, base 10000: inv_freq = (1, 10000^(−1/2) = 0.01), angle = p·inv_freq,
// x = (x1 | x2) → (x1·cos + x2·sin | −x1·sin + x2·cos).
std::vector<double> rotate_by_hand(const std::vector<double>& x, double position) {
  const double a0 = position * 1.0, a1 = position * 0.01;
  return {x[0] * std::cos(a0) + x[2] * std::sin(a0), x[1] * std::cos(a1) + x[3] * std::sin(a1),
          -x[0] * std::sin(a0) + x[2] * std::cos(a0), -x[1] * std::sin(a1) + x[3] * std::cos(a1)};
}

TEST(CpuRope, MatchesTrainGptOnHandComputedCase) {
  auto backend = make_cpu_backend();
  // x [B=1, T=3, H=1, hd=4], the same vector at every position.
  FVec x = {1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4};
  backend->rope(view(x, {1, 3, 1, 4}), 10000.0f, 0, false);
  for (int t = 0; t < 3; ++t) {
    const auto expected = rotate_by_hand({1, 2, 3, 4}, t);
    for (int d = 0; d < 4; ++d) EXPECT_NEAR(x[t * 4 + d], expected[d], 2e-6) << "t=" << t << " d=" << d;
  }
  // Position 2, first pair: 1·cos 2 + 3·sin 2 = −0.4161468 + 2.7278923 = 2.3117455.
  EXPECT_NEAR(x[8], 2.3117455, 1e-6);
}

TEST(CpuRope, StartSkipsMemoryRowsAndCountsFromZero) {
  auto backend = make_cpu_backend();
  const int64_t batch = 2, seq = 5, heads = 2, hd = 4, start = 2;
  FVec x(batch * seq * heads * hd);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) - 3.0f;
  const FVec original = x;
  backend->rope(view(x, {batch, seq, heads, hd}), 10000.0f, start, false);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < seq; ++t)
      for (int64_t h = 0; h < heads; ++h) {
        const int64_t base = ((b * seq + t) * heads + h) * hd;
        const std::vector<double> in(original.begin() + base, original.begin() + base + hd);
        // Memory rows stay as they are; token rows rotate by their position after the memory.
        const auto expected = t < start ? in : rotate_by_hand(in, static_cast<double>(t - start));
        for (int64_t d = 0; d < hd; ++d)
          EXPECT_NEAR(x[base + d], expected[d], 2e-6) << "b=" << b << " t=" << t << " h=" << h << " d=" << d;
        if (t <= start)
          for (int64_t d = 0; d < hd; ++d) EXPECT_EQ(x[base + d], original[base + d]) << "t=" << t;
      }
}

TEST(CpuRope, InverseUndoesForwardAndCacheHandlesNewShapes) {
  auto backend = make_cpu_backend();
  // Alternating head dims, bases and lengths must not reuse stale cached tables.
  for (auto [seq, hd, base] : {std::tuple<int64_t, int64_t, float>{6, 8, 10000.0f}, {9, 8, 10000.0f},
                               {4, 16, 500.0f}, {9, 8, 10000.0f}}) {
    FVec x = to_float(random_vector(2 * seq * 3 * hd, 70 + seq));
    const FVec original = x;
    backend->rope(view(x, {2, seq, 3, hd}), base, 0, false);
    const double position = seq - 1, angle = position * std::pow(static_cast<double>(base), -2.0 / hd);
    const int64_t last = ((1 * seq + seq - 1) * 3 + 2) * hd;  // b=1, last t, h=2, pair i=1
    EXPECT_NEAR(x[last + 1], original[last + 1] * std::cos(angle) + original[last + 1 + hd / 2] * std::sin(angle),
                1e-5);
    backend->rope(view(x, {2, seq, 3, hd}), base, 0, true);
    for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(x[i], original[i], 1e-5) << i;
  }
}

}  // namespace
}  // namespace dg::test
