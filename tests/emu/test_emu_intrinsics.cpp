// The dialect's device intrinsics and bf16 helpers under the emulator, against their definitions
// (the GPU's fast approximations, __expf & co., are exact libm calls here).
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>

#include "intrinsics.h"

namespace {

TEST(EmuIntrinsics, MatchTheirDefinitions) {
  const std::vector<float> x = {-2.75f, -1.0f, -0.3f, 0.0f, 0.25f, 0.5f, 0.7f, 1.0f, 1.5f, 3.14159f, 7.0f, 100.0f};
  const dg::test::IntrinsicResults r = dg::test::run_intrinsics(x);
  for (size_t k = 0; k < x.size(); ++k) {
    const float v = x[k];
    const int iv = static_cast<int>(v * 1000.0f);
    EXPECT_FLOAT_EQ(r.rsqrt[k], 1.0f / std::sqrt(std::fabs(v) + 1.0f)) << v;
    EXPECT_FLOAT_EQ(r.exp[k], std::exp(v)) << v;
    EXPECT_FLOAT_EQ(r.log[k], std::log(std::fabs(v) + 1.0f)) << v;
    EXPECT_FLOAT_EQ(r.fdivide[k], v / 3.0f) << v;
    EXPECT_EQ(r.saturate[k], std::clamp(v, 0.0f, 1.0f)) << v;
    EXPECT_EQ(r.fmin[k], std::min(v, 0.5f)) << v;
    EXPECT_NEAR(r.bf16_round_trip[k], v, std::fabs(v) * 0x1p-8) << v;
    EXPECT_NEAR(r.bf16_sum[k], v + 1.0f, (std::fabs(v) + 1.0f) * 0x1p-7) << v;
    EXPECT_EQ(r.float2int_rn[k], static_cast<int>(std::nearbyint(v * 10.0f))) << v;
    EXPECT_EQ(r.popc[k], std::popcount(static_cast<unsigned>(iv))) << v;
    EXPECT_EQ(r.clz[k], std::countl_zero(static_cast<unsigned>(iv))) << v;
    EXPECT_EQ(r.ffs[k], iv == 0 ? 0 : std::countr_zero(static_cast<unsigned>(iv)) + 1) << v;
    EXPECT_EQ(r.imax[k], std::max(iv, -100)) << v;
    uint32_t reversed = 0;
    for (int b = 0; b < 32; ++b) reversed |= ((static_cast<unsigned>(iv) >> b) & 1u) << (31 - b);
    EXPECT_EQ(r.brev[k], reversed) << v;
    EXPECT_EQ(r.float_bits[k], std::bit_cast<uint32_t>(v)) << v;
  }
  EXPECT_EQ(r.float2int_rn[4], 2);  // 2.5 rounds to even
  EXPECT_EQ(r.float2int_rn[2], -3);
}

}  // namespace
