#include "launch_limits.h"

#include "device_buffer.cuh"
#include "dialect.cuh"

namespace dg::test {
namespace {

__global__ void empty_kernel() {}

__global__ void fill_dynamic_shared_kernel(int count, float* sum) {
  DG_DYNAMIC_SHARED(float, buffer);
  for (int i = threadIdx.x; i < count; i += blockDim.x) buffer[i] = 1.0f;
  __syncthreads();
  if (threadIdx.x == 0) {
    float s = 0.0f;
    for (int i = 0; i < count; ++i) s += buffer[i];
    *sum = s;
  }
}

}  // namespace

void launch_empty(dim3 grid, dim3 block, size_t dynamic_shared_bytes, cudaStream_t stream) {
  dg::cuda::launch<empty_kernel>(grid, block, dynamic_shared_bytes, stream);
}

float fill_dynamic_shared(size_t bytes) {
  DeviceBuffer<float> sum(1);
  dg::cuda::launch<fill_dynamic_shared_kernel>(1, 256, bytes, nullptr, static_cast<int>(bytes / sizeof(float)),
                                               sum.get());
  return sum.to_host()[0];
}

void allow_dynamic_shared(size_t bytes) {
  dg::cuda::allow_dynamic_shared<fill_dynamic_shared_kernel>(bytes);
}

}  // namespace dg::test
