// Wrong uses of the dg::ptx wrappers (undefined behaviour on a GPU) and __trap are errors that
// name the kernel, block and thread.
#include <gtest/gtest.h>

#include "emu_test_util.h"
#include "ptx_misuse.h"

namespace {

void expect_contains(const std::string& message, const std::vector<std::string>& parts) {
  for (const std::string& part : parts) EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' in: " << message;
}

TEST(EmuPtxMisuse, LdmatrixNeedsAlignedSharedMemoryRows) {
  expect_contains(dg::test::error_of([] { dg::test::ldmatrix_from_global_memory(); }),
                  {"ldmatrix_from_global_kernel, block (0,0,0)", "ldmatrix.x1: the row address",
                   "given by lane 0 is not in shared memory"});
  expect_contains(dg::test::error_of([] { dg::test::ldmatrix_misaligned(); }),
                  {"ldmatrix_misaligned_kernel", "given by lane 0 is not 16-byte aligned"});
}

TEST(EmuPtxMisuse, CpAsyncWritesOnlySharedMemory) {
  expect_contains(dg::test::error_of([] { dg::test::cp_async_into_global_memory(); }),
                  {"cp_async_into_global_kernel, block (0,0,0), thread (", "cp.async.cg 16 destination",
                   "is not shared memory"});
}

TEST(EmuPtxMisuse, TrapStopsTheLaunchAndNamesTheThread) {
  expect_contains(dg::test::error_of([] { dg::test::run_trap(); }),
                  {"trap_kernel, block (0,0,0), thread (5,0,0) (warp 0, lane 5)", "called __trap()"});
}

}  // namespace
