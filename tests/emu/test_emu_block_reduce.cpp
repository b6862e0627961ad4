// A block reduction (warp shuffles + a static __shared__ array in a template kernel) run by the
// emulator: equal to a double-precision sum, and bit-identical under every schedule.
#include <gtest/gtest.h>

#include <cmath>

#include "block_reduce.h"
#include "core/rng.h"
#include "emu_test_util.h"

namespace {

TEST(EmuBlockReduce, EveryBlockSizeMatchesDoubleSumsUnderEverySchedule) {
  dg::Rng rng(3);
  std::vector<float> values(10000);
  for (float& v : values) v = static_cast<float>(rng.normal());
  const int per_block = 1500;  // 7 blocks, the last one partial
  for (int threads : {64, 256, 1024}) {
    const std::vector<float> sums =
        dg::test::same_for_every_seed([&] { return dg::test::block_sums(values, per_block, threads); });
    ASSERT_EQ(sums.size(), 7u);
    for (size_t b = 0; b < sums.size(); ++b) {
      double exact = 0, magnitude = 0;
      for (size_t i = b * per_block; i < std::min(values.size(), (b + 1) * per_block); ++i) {
        exact += values[i];
        magnitude += std::fabs(values[i]);
      }
      EXPECT_NEAR(sums[b], exact, 1e-6 * magnitude) << "threads " << threads << ", block " << b;
    }
  }
}

}  // namespace
