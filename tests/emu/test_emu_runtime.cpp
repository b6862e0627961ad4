// The emulated CUDA runtime API: device memory is poisoned and bounds-checked at every copy and
// memset, frees are checked, streams and events behave, and errors explain themselves.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <cstring>
#include <string>

#include "emu_test_util.h"
#include "launch_limits.h"

namespace {

std::string last_error_text(cudaError_t code) {
  const std::string text = cudaGetErrorString(code);
  cudaGetLastError();
  return text;
}

TEST(EmuRuntime, FreshDeviceMemoryIsPoisoned) {
  float* p = nullptr;
  ASSERT_EQ(cudaMalloc(&p, 64 * sizeof(float)), cudaSuccess);
  std::vector<uint32_t> host(64);
  ASSERT_EQ(cudaMemcpy(host.data(), p, 64 * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  for (uint32_t bits : host) EXPECT_EQ(bits, 0xFFFFFFFFu);
  EXPECT_EQ(cudaFree(p), cudaSuccess);
}

TEST(EmuRuntime, CopiesAndMemsetsAreBoundsChecked) {
  char* p = nullptr;
  ASSERT_EQ(cudaMalloc(&p, 384), cudaSuccess);
  std::vector<char> host(400);
  cudaError_t e = cudaMemcpy(p, host.data(), 400, cudaMemcpyHostToDevice);
  EXPECT_EQ(e, cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // reading it cleared it
  std::string text = cudaGetErrorString(e);
  EXPECT_NE(text.find("invalid argument (CUDA emulator: cudaMemcpy: destination"), std::string::npos) << text;
  EXPECT_NE(text.find("+ 400 bytes runs 16 bytes past the end of a 384-byte device allocation"), std::string::npos)
      << text;
  e = cudaMemcpy(host.data(), p + 100, 300, cudaMemcpyDeviceToHost);
  EXPECT_NE(last_error_text(e).find("source"), std::string::npos);
  e = cudaMemset(p + 380, 0, 8);
  EXPECT_NE(last_error_text(e).find("runs 4 bytes past the end"), std::string::npos);
  e = cudaMemcpy(host.data(), host.data() + 8, 8, cudaMemcpyDeviceToHost);
  EXPECT_NE(last_error_text(e).find("is not in any live device allocation"), std::string::npos);
  EXPECT_EQ(cudaMemcpy(p + 84, host.data(), 300, cudaMemcpyHostToDevice), cudaSuccess);  // exactly to the end
  EXPECT_EQ(cudaFree(p), cudaSuccess);
}

TEST(EmuRuntime, FreeChecksItsPointer) {
  void* p = nullptr;
  ASSERT_EQ(cudaMalloc(&p, 16), cudaSuccess);
  EXPECT_EQ(cudaFree(p), cudaSuccess);
  const cudaError_t twice = cudaFree(p);
  EXPECT_EQ(twice, cudaErrorInvalidValue);
  EXPECT_NE(last_error_text(twice).find("not the start of a live device allocation"), std::string::npos);
  EXPECT_EQ(cudaFree(nullptr), cudaSuccess);
}

TEST(EmuRuntime, BoundsCheckModeKeepsAlignmentAndContents) {
  dg::emu::ScopedBoundsCheck on(true);
  float* p = nullptr;
  ASSERT_EQ(cudaMalloc(&p, 100 * sizeof(float)), cudaSuccess);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u);
  std::vector<float> in(100), out(100);
  for (int i = 0; i < 100; ++i) in[i] = static_cast<float>(i) * 0.5f;
  ASSERT_EQ(cudaMemcpy(p, in.data(), 400, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(out.data(), p, 400, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(in, out);
  EXPECT_EQ(cudaFree(p), cudaSuccess);
}

TEST(EmuRuntime, StreamsAndEvents) {
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  cudaEvent_t start = nullptr, stop = nullptr;
  ASSERT_EQ(cudaEventCreate(&start), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&stop), cudaSuccess);
  float ms = -1;
  EXPECT_NE(last_error_text(cudaEventElapsedTime(&ms, start, stop)).find("never recorded"), std::string::npos);
  ASSERT_EQ(cudaEventRecord(start, stream), cudaSuccess);
  int* p = nullptr;
  ASSERT_EQ(cudaMalloc(&p, sizeof(int)), cudaSuccess);
  ASSERT_EQ(cudaMemsetAsync(p, 0, sizeof(int), stream), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(stop, stream), cudaSuccess);
  ASSERT_EQ(cudaStreamWaitEvent(stream, stop, 0), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  ASSERT_EQ(cudaEventElapsedTime(&ms, start, stop), cudaSuccess);
  EXPECT_GE(ms, 0.0f);
  EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);
  const cudaError_t gone = cudaStreamSynchronize(stream);
  EXPECT_EQ(gone, cudaErrorInvalidResourceHandle);
  EXPECT_NE(last_error_text(gone).find("was not created by cudaStreamCreate or was destroyed"), std::string::npos);
  EXPECT_EQ(cudaEventDestroy(start), cudaSuccess);
  EXPECT_EQ(cudaEventDestroy(stop), cudaSuccess);
  EXPECT_EQ(cudaFree(p), cudaSuccess);
}

TEST(EmuRuntime, TheEmulatedDeviceReportsSm90Limits) {
  int count = 0;
  ASSERT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
  EXPECT_EQ(count, 1);
  cudaDeviceProp prop{};
  ASSERT_EQ(cudaGetDeviceProperties(&prop, 0), cudaSuccess);
  EXPECT_EQ(prop.major, 9);
  EXPECT_EQ(prop.minor, 0);
  EXPECT_EQ(prop.maxThreadsPerBlock, 1024);
  EXPECT_EQ(prop.sharedMemPerBlockOptin, 232448u);
  EXPECT_EQ(prop.warpSize, 32);
  EXPECT_EQ(cudaSetDevice(1), cudaErrorInvalidDevice);
  cudaGetLastError();
}

}  // namespace
