// Shared memory, static and dynamic, is 0xFF (NaN) bytes at the start of every block, so what a
// block did not write itself is never left over from an earlier block.
#include <gtest/gtest.h>

#include "emu_test_util.h"
#include "shared_poison.h"

namespace {

TEST(EmuSharedPoison, StaticSharedIsPoisonedBeforeEveryBlock) {
  for (uint32_t bits : dg::test::stale_static_shared(5)) EXPECT_EQ(bits, 0xFFFFFFFFu);
}

TEST(EmuSharedPoison, DynamicSharedIsPoisonedBeforeEveryBlock) {
  for (uint32_t bits : dg::test::stale_dynamic_shared(5)) EXPECT_EQ(bits, 0xFFFFFFFFu);
}

}  // namespace
