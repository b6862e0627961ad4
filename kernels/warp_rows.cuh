// Helpers of the kernels that give each row to one warp (ops_norm_rope.cu, ops_attention.cu):
// a grid-stride loop over warps, and the sum of a float over the warp's 32 lanes by a fixed xor
// butterfly, so every lane gets the same bits (each step adds the same two partial sums, only
// commuted) whatever the schedule.
#pragma once

#include "dialect.cuh"
#include "grid.cuh"

namespace dg::cuda {

inline constexpr int kWarpSize = 32;

__device__ inline int64_t global_warp() { return global_index() / kWarpSize; }
__device__ inline int64_t warp_count() { return global_stride() / kWarpSize; }
__device__ inline int warp_lane() { return static_cast<int>(threadIdx.x % kWarpSize); }

__device__ inline float warp_sum(float v) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

}  // namespace dg::cuda
