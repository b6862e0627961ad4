// A kernel that can never finish is a reported error, never a hang: the report names the kernel,
// the block and what each group of threads waits for.
#include <gtest/gtest.h>

#include "deadlocks.h"
#include "emu_test_util.h"

namespace {

void expect_contains(const std::string& message, const std::vector<std::string>& parts) {
  for (const std::string& part : parts) EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' in:\n" << message;
}

TEST(EmuDeadlocks, BarrierSomeThreadsNeverReach) {
  for (uint64_t seed : dg::test::schedule_seeds()) {
    dg::emu::ScopedScheduleSeed scoped(seed);
    const std::string message = dg::test::error_of([] { dg::test::run_split_barrier(64); });
    expect_contains(message, {"deadlock in kernel", "split_barrier_kernel", "block (0,0,0)", "no thread can continue",
                              "at __syncthreads (32 of 64 live threads arrived)",
                              "lanes 16-31): at __syncwarp(mask 0xffffffff), waiting for lanes 0-15"});
  }
}

TEST(EmuDeadlocks, ShuffleMaskNamingAnExitedLane) {
  for (uint64_t seed : dg::test::schedule_seeds()) {
    dg::emu::ScopedScheduleSeed scoped(seed);
    const std::string message = dg::test::error_of([] { dg::test::run_shuffle_with_exited_lanes(); });
    // Depending on the schedule the lanes exit before or after the first lane reaches the shuffle.
    expect_contains(message, {"deadlock", "shuffle_with_exited_lanes_kernel", "__shfl_sync", "0xffffffff", "exited"});
  }
}

TEST(EmuDeadlocks, LanesDisagreeingOnTheMask) {
  const std::string message = dg::test::error_of([] { dg::test::run_mismatched_masks(); });
  expect_contains(message, {"deadlock in kernel", "mismatched_masks_kernel", "at __shfl_sync(mask 0x00000003)",
                            "at __shfl_sync(mask 0xffffffff)"});
}

TEST(EmuDeadlocks, TheEmulatorStillWorksAfterADeadlock) {
  EXPECT_THROW(dg::test::run_split_barrier(32), dg::Error);
  EXPECT_THROW(dg::test::run_split_barrier(1024), dg::Error);
  EXPECT_THROW(dg::test::run_mismatched_masks(), dg::Error);
}

}  // namespace
