// Launches over the sm_90 limits, or on a stream that is gone, are refused with a message saying why.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include "emu_test_util.h"
#include "launch_limits.h"

namespace {

void expect_message(const std::string& message, const std::string& why) {
  EXPECT_NE(message.find("cannot launch kernel"), std::string::npos) << message;
  EXPECT_NE(message.find("empty_kernel"), std::string::npos) << message;
  EXPECT_NE(message.find(why), std::string::npos) << "'" << why << "' in: " << message;
}

void expect_refused(dim3 grid, dim3 block, size_t smem, const std::string& why) {
  expect_message(dg::test::error_of([&] { dg::test::launch_empty(grid, block, smem); }), why);
}

void expect_refused_on(cudaStream_t stream, const std::string& why) {
  expect_message(dg::test::error_of([&] { dg::test::launch_empty(1, 32, 0, stream); }), why);
}

TEST(EmuLaunchLimits, ThreadsPerBlock) {
  expect_refused(1, 1025, 0, "blockDim.x = 1025 exceeds the limit of 1024");
  expect_refused(1, dim3(32, 32, 2), 0, "a block of 2048 threads exceeds the limit of 1024 threads per block");
  expect_refused(1, dim3(512, 4, 1), 0, "a block of 2048 threads");
  dg::test::launch_empty(1, dim3(32, 32, 1), 0);  // exactly 1024 is fine
}

TEST(EmuLaunchLimits, BlockDimensions) {
  expect_refused(1, dim3(1, 1025, 1), 0, "blockDim.y = 1025 exceeds the limit of 1024");
  expect_refused(1, dim3(1, 1, 65), 0, "blockDim.z = 65 exceeds the limit of 64");
  expect_refused(1, dim3(0, 1, 1), 0, "a grid or block dimension is 0");
}

TEST(EmuLaunchLimits, GridDimensions) {
  expect_refused(dim3(2147483648u, 1, 1), 1, 0, "gridDim.x = 2147483648 exceeds the limit of 2147483647");
  expect_refused(dim3(1, 65536, 1), 1, 0, "gridDim.y = 65536 exceeds the limit of 65535");
  expect_refused(dim3(1, 1, 65536), 1, 0, "gridDim.z = 65536 exceeds the limit of 65535");
  expect_refused(dim3(1, 0, 1), 1, 0, "a grid or block dimension is 0");
  dg::test::launch_empty(dim3(3, 65535, 1), 1, 0);  // the largest y runs (196,605 empty blocks)
}

TEST(EmuLaunchLimits, DynamicSharedMemoryAbove48KiBNeedsTheOptIn) {
  EXPECT_EQ(dg::test::fill_dynamic_shared(48 * 1024), 12288.0f);  // up to 48 KiB needs nothing
  const std::string message = dg::test::error_of([] { dg::test::fill_dynamic_shared(64 * 1024); });
  EXPECT_NE(message.find("65536 bytes of dynamic shared memory exceed the 49152 bytes this kernel may use by default"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("cudaFuncAttributeMaxDynamicSharedMemorySize"), std::string::npos) << message;
  dg::test::allow_dynamic_shared(100 * 1024);
  EXPECT_EQ(dg::test::fill_dynamic_shared(64 * 1024), 16384.0f);
  EXPECT_NE(dg::test::error_of([] { dg::test::fill_dynamic_shared(101 * 1024); })
                .find("exceed the 102400 bytes this kernel may use"),
            std::string::npos);
}

TEST(EmuLaunchLimits, NeverAboveTheSm90Maximum) {
  dg::test::allow_dynamic_shared(232448);  // 227 KiB: the most sm_90 allows
  EXPECT_EQ(dg::test::fill_dynamic_shared(232448), 58112.0f);
  const std::string attribute = dg::test::error_of([] { dg::test::allow_dynamic_shared(232448 + 4); });
  EXPECT_NE(attribute.find("232452 bytes of dynamic shared memory exceed the sm_90 maximum of 232448 bytes"),
            std::string::npos)
      << attribute;
  const std::string launch = dg::test::error_of([] { dg::test::fill_dynamic_shared(240000); });
  EXPECT_NE(launch.find("240000 bytes of dynamic shared memory exceed the sm_90 maximum of 232448 bytes"),
            std::string::npos)
      << launch;
}

TEST(EmuLaunchLimits, OnlyLiveStreams) {
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  dg::test::launch_empty(1, 32, 0, stream);
  ASSERT_EQ(cudaStreamDestroy(stream), cudaSuccess);
  expect_refused_on(stream, "was not created by cudaStreamCreate or was destroyed");
}

}  // namespace
