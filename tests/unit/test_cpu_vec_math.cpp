// The vectorisable float exp/tanh used by softmax and softcap must be as accurate as libm's
// (a few ulp), including at the clamps, so the fast path does not change results measurably.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "backend/cpu/ops_loss.h"
#include "backend/cpu/vec_math.h"

namespace dg::test {
namespace {

// |approx − exact| in units of the float spacing at the exact value.
double ulp_error(float approx, double exact) {
  const double spacing = std::max(std::abs(exact), static_cast<double>(std::numeric_limits<float>::min())) *
                         static_cast<double>(std::numeric_limits<float>::epsilon());
  return std::abs(static_cast<double>(approx) - exact) / spacing;
}

TEST(CpuVecMath, ExpWithinTwoUlp) {
  double worst = 0.0;
  float worst_x = 0.0f;
  for (float x = -87.0f; x <= 88.0f; x += 0.00137f) {
    const double err = ulp_error(cpu::vexp(x), std::exp(static_cast<double>(x)));
    if (err > worst) worst = err, worst_x = x;
  }
  EXPECT_LE(worst, 2.0) << "at x = " << worst_x;
  EXPECT_EQ(cpu::vexp(0.0f), 1.0f);
  EXPECT_EQ(cpu::vexp(-1000.0f), 0.0f);  // deep underflow is exactly 0, never NaN
  EXPECT_EQ(cpu::vexp(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_TRUE(std::isfinite(cpu::vexp(1000.0f)));
}

TEST(CpuVecMath, TanhWithinTwoUlp) {
  double worst = 0.0;
  float worst_x = 0.0f;
  for (float x = -12.0f; x <= 12.0f; x += 0.000731f) {
    const double err = ulp_error(cpu::vtanh(x), std::tanh(static_cast<double>(x)));
    if (err > worst) worst = err, worst_x = x;
  }
  EXPECT_LE(worst, 2.0) << "at x = " << worst_x;
  for (float tiny : {1e-30f, 1e-8f, 3e-4f}) EXPECT_NEAR(cpu::vtanh(tiny), tiny, tiny * 1e-6f);
  EXPECT_EQ(cpu::vtanh(0.0f), 0.0f);
  EXPECT_EQ(cpu::vtanh(50.0f), 1.0f);
  EXPECT_EQ(cpu::vtanh(-1e6f), -1.0f);
}

// A diverged run must look diverged: NaN in, NaN out. (vtanh once returned +1 for NaN, so NaN logits
// became a uniform distribution with loss exactly ln(vocab) and the trainer's check never fired.)
TEST(CpuVecMath, NanStaysNan) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(cpu::vexp(nan)));
  EXPECT_TRUE(std::isnan(cpu::vtanh(nan)));
  EXPECT_TRUE(std::isnan(cpu::vtanh(-nan)));
  const cpu::f32v mixed = cpu::vtanh(cpu::f32v{nan, 0.5f, -2.0f, nan});
  EXPECT_TRUE(std::isnan(mixed[0]) && std::isnan(mixed[3]));
  EXPECT_EQ(mixed[1], cpu::vtanh(0.5f));  // the other lanes are unaffected
  EXPECT_EQ(mixed[2], cpu::vtanh(-2.0f));
}

TEST(CpuVecMath, NanLogitMakesTheLossNan) {
  const int64_t vocab = 11;  // not a multiple of the lane count: the tail path too
  for (int64_t bad : {int64_t{0}, int64_t{5}, vocab - 1}) {
    std::vector<float> z(static_cast<size_t>(vocab), 0.25f);
    z[static_cast<size_t>(bad)] = std::numeric_limits<float>::quiet_NaN();
    const int32_t target = 2;
    float loss = 0.0f;
    cpu::softcap_ce_forward(&loss, z.data(), &target, 1, vocab, 30.0f);
    EXPECT_TRUE(std::isnan(loss)) << "NaN at column " << bad << " gave loss " << loss;
  }
}

}  // namespace
}  // namespace dg::test
