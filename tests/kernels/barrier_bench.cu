#include "barrier_bench.h"

#include <vector>

#include "device_buffer.cuh"
#include "dialect.cuh"

namespace dg::test {
namespace {

__global__ void barrier_rounds_kernel(int rounds, float* out) {
  __shared__ float slots[1024];
  const int t = threadIdx.x, n = blockDim.x;
  float v = static_cast<float>(t);
  for (int r = 0; r < rounds; ++r) {
    slots[t] = v;
    __syncthreads();
    v = 0.5f * (v + slots[(t + 1) % n]);
    __syncthreads();
  }
  out[blockIdx.x * n + t] = v;
}

}  // namespace

float run_barrier_rounds(int blocks, int threads, int rounds) {
  DeviceBuffer<float> out(static_cast<size_t>(blocks) * threads);
  dg::cuda::launch<barrier_rounds_kernel>(blocks, threads, 0, nullptr, rounds, out.get());
  float sum = 0.0f;
  for (float v : out.to_host()) sum += v;
  return sum;
}

}  // namespace dg::test
