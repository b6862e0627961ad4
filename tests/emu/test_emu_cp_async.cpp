// cp.async under the emulator: the destination holds poison until the issuing thread waits for the
// copy's group; wait_group N leaves the N newest groups in flight; a zero-filling copy zero-fills;
// 4-, 8- and 16-byte copies.
#include <gtest/gtest.h>

#include "emu_test_util.h"
#include "ptx_probes.h"

namespace {

TEST(EmuCpAsync, DestinationIsPoisonedUntilItsGroupIsWaitedFor) {
  std::vector<uint32_t> group0(128), group1(128);
  for (uint32_t i = 0; i < 128; ++i) {
    group0[i] = 0x10000 + i;
    group1[i] = 0x20000 + i;
  }
  const std::vector<uint32_t> s =
      dg::test::same_for_every_seed([&] { return dg::test::cp_async_snapshots(group0, group1); });
  for (int t = 0; t < 32; ++t) {
    const uint32_t* snap = &s[t * 10];
    EXPECT_EQ(snap[0], 0xFFFFFFFFu) << "thread " << t << ": group 0 before any wait";
    EXPECT_EQ(snap[1], 0xFFFFFFFFu) << "thread " << t << ": group 1 before any wait";
    EXPECT_EQ(snap[2], group0[4 * t]) << "thread " << t << ": group 0 after wait_group 1";
    EXPECT_EQ(snap[3], 0xFFFFFFFFu) << "thread " << t << ": group 1 after wait_group 1 (still in flight)";
    EXPECT_EQ(snap[4], group0[4 * t]) << "thread " << t << ": group 0 after wait_group 0";
    EXPECT_EQ(snap[5], group1[4 * t]) << "thread " << t << ": group 1 after wait_group 0";
    EXPECT_EQ(snap[6], 0u) << "thread " << t << ": zero-filled word 1 of a 4-byte copy";
    EXPECT_EQ(snap[7], 0u) << "thread " << t << ": zero-filled word 3 of a 4-byte copy";
    EXPECT_EQ(snap[8], group1[4 * t + 3]) << "thread " << t << ": cp.async 4 bytes";
    EXPECT_EQ(snap[9], group1[4 * t + 1]) << "thread " << t << ": cp.async 8 bytes, second word";
  }
}

}  // namespace
