// Launch shapes shared by the backend's elementwise kernels: 256-thread blocks, grid-stride loops,
// at most 1024 blocks (about two full waves of 256-thread blocks on an H100's 132 SMs; under the
// emulator it also bounds the fibers a launch creates).
#pragma once

#include "dialect.cuh"

namespace dg::cuda {

inline constexpr int kThreads = 256;
inline constexpr int64_t kMaxBlocks = 1024;

inline dim3 grid_for(int64_t n, int threads = kThreads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return dim3(static_cast<unsigned>(blocks < 1 ? 1 : (blocks > kMaxBlocks ? kMaxBlocks : blocks)));
}

__device__ inline int64_t global_index() { return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline int64_t global_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

}  // namespace dg::cuda
