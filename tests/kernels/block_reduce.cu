#include "block_reduce.h"

#include "device_buffer.cuh"
#include "dialect.cuh"

namespace dg::test {
namespace {

__device__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

template <int kThreads>
__global__ void block_sum_kernel(const float* values, int n, int per_block, float* sums) {
  __shared__ float warp_sums[kThreads / 32];  // a static __shared__ array in a template kernel
  const int begin = blockIdx.x * per_block;
  const int end = min(n, begin + per_block);
  float v = 0.0f;
  for (int i = begin + threadIdx.x; i < end; i += kThreads) v += values[i];
  v = warp_sum(v);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < kThreads / 32 ? warp_sums[lane] : 0.0f;
    v = warp_sum(v);
    if (lane == 0) sums[blockIdx.x] = v;
  }
}

template <int kThreads>
void launch_block_sum(const DeviceBuffer<float>& values, int n, int per_block, int blocks, const DeviceBuffer<float>& sums) {
  dg::cuda::launch<block_sum_kernel<kThreads>>(blocks, kThreads, 0, nullptr, values.get(), n, per_block, sums.get());
}

}  // namespace

std::vector<float> block_sums(const std::vector<float>& values, int per_block, int threads) {
  const int n = static_cast<int>(values.size());
  const int blocks = (n + per_block - 1) / per_block;
  DeviceBuffer<float> d_values(values);
  DeviceBuffer<float> d_sums(static_cast<size_t>(blocks));
  switch (threads) {
    case 64: launch_block_sum<64>(d_values, n, per_block, blocks, d_sums); break;
    case 256: launch_block_sum<256>(d_values, n, per_block, blocks, d_sums); break;
    case 1024: launch_block_sum<1024>(d_values, n, per_block, blocks, d_sums); break;
    default: DG_THROW("block_sums: threads must be 64, 256 or 1024, got " << threads);
  }
  return d_sums.to_host();
}

}  // namespace dg::test
