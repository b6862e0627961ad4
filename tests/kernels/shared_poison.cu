#include "shared_poison.h"

#include "device_buffer.cuh"
#include "dialect.cuh"

namespace dg::test {
namespace {

template <int kWords>
__global__ void stale_static_shared_kernel(uint32_t* first_read) {
  __shared__ uint32_t words[kWords];
  if (threadIdx.x == 0) first_read[blockIdx.x] = words[0];
  __syncthreads();
  words[threadIdx.x] = blockIdx.x + 1;
}

__global__ void stale_dynamic_shared_kernel(uint32_t* first_read) {
  DG_DYNAMIC_SHARED(uint32_t, words);
  if (threadIdx.x == 0) first_read[blockIdx.x] = words[0];
  __syncthreads();
  words[threadIdx.x] = blockIdx.x + 1;
}

}  // namespace

std::vector<uint32_t> stale_static_shared(int blocks) {
  DeviceBuffer<uint32_t> first_read(static_cast<size_t>(blocks));
  dg::cuda::launch<stale_static_shared_kernel<64>>(blocks, 64, 0, nullptr, first_read.get());
  return first_read.to_host();
}

std::vector<uint32_t> stale_dynamic_shared(int blocks) {
  DeviceBuffer<uint32_t> first_read(static_cast<size_t>(blocks));
  dg::cuda::launch<stale_dynamic_shared_kernel>(blocks, 64, 64 * sizeof(uint32_t), nullptr, first_read.get());
  return first_read.to_host();
}

}  // namespace dg::test
