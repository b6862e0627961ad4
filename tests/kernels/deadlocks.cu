#include "deadlocks.h"

#include "device_buffer.cuh"
#include "dialect.cuh"

namespace dg::test {
namespace {

__global__ void split_barrier_kernel(int* out) {
  if (threadIdx.x % 32 < 16) __syncthreads();
  __syncwarp();
  out[threadIdx.x] = 1;
}

__global__ void shuffle_with_exited_lanes_kernel(int* out) {
  const int lane = threadIdx.x % 32;
  if (lane >= 16) return;
  out[lane] = __shfl_sync(0xffffffffu, lane, 0);
}

__global__ void mismatched_masks_kernel(int* out) {
  const int lane = threadIdx.x;
  out[lane] = __shfl_sync(lane == 0 ? 0x3u : 0xffffffffu, lane, 0);
}

}  // namespace

void run_split_barrier(int threads) {
  DeviceBuffer<int> out(static_cast<size_t>(threads));
  dg::cuda::launch<split_barrier_kernel>(1, threads, 0, nullptr, out.get());
}

void run_shuffle_with_exited_lanes() {
  DeviceBuffer<int> out(32);
  dg::cuda::launch<shuffle_with_exited_lanes_kernel>(1, 32, 0, nullptr, out.get());
}

void run_mismatched_masks() {
  DeviceBuffer<int> out(32);
  dg::cuda::launch<mismatched_masks_kernel>(1, 32, 0, nullptr, out.get());
}

}  // namespace dg::test
