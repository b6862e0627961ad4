// Faults inside an emulated kernel are reported with the kernel, block and thread before the
// process dies: out-of-bounds device reads (bounds-check mode), dynamic shared memory overruns and
// fiber stack overflows. Death tests: each runs in a child process.
#include <gtest/gtest.h>

#include "emu/control.h"
#include "faults.h"

namespace {

TEST(EmuFaultsDeathTest, ReadPastTheEndOfADeviceAllocation) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        dg::emu::ScopedBoundsCheck on(true);
        dg::test::run_read_past_end(256);
      },
      "out-of-bounds device memory access: address 0x[0-9a-f]+ is 0 bytes past the end of a 1024-byte device "
      "allocation.*\n.*in kernel .*read_past_end_kernel, block \\(0,0,0\\), thread \\(255,0,0\\)");
}

TEST(EmuFaultsDeathTest, DynamicSharedMemoryOverrun) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(dg::test::run_dynamic_shared_overflow(),
               "access past the end of the launch's 1024 bytes of dynamic shared memory.*\n.*in kernel "
               ".*dynamic_shared_overflow_kernel, block \\(0,0,0\\), thread \\(0,0,0\\)");
}

TEST(EmuFaultsDeathTest, FiberStackOverflow) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(dg::test::run_stack_overflow(),
               "stack overflow: the thread used more than its 64 KiB fiber stack.*\n.*in kernel .*stack_overflow_kernel");
}


}  // namespace
