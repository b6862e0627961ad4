#include "faults.h"

#include "device_buffer.cuh"
#include "dialect.cuh"

namespace dg::test {
namespace {

__global__ void read_past_end_kernel(const float* in, float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = in[i + 1];
}

__global__ void dynamic_shared_overflow_kernel(int count, float* out) {
  DG_DYNAMIC_SHARED(float, buffer);
  if (threadIdx.x == 0) {
    for (int i = 0; i <= count + 1024; ++i) buffer[i] = 1.0f;  // runs past the end
    *out = buffer[0];
  }
}

__device__ int recurse(volatile char* previous, int depth) {
  volatile char frame[1024];
  frame[0] = static_cast<char>(depth);
  frame[1023] = previous != nullptr ? previous[0] : 0;
  return depth > 1000000 ? frame[1023] : recurse(frame, depth + 1) + frame[0];
}

__global__ void stack_overflow_kernel(int* out) { *out = recurse(nullptr, 0); }

}  // namespace

void run_read_past_end(int n) {
  DeviceBuffer<float> in(static_cast<size_t>(n)), out(static_cast<size_t>(n));
  dg::cuda::launch<read_past_end_kernel>((n + 255) / 256, 256, 0, nullptr, in.get(), out.get(), n);
}

void run_dynamic_shared_overflow() {
  DeviceBuffer<float> out(1);
  dg::cuda::launch<dynamic_shared_overflow_kernel>(1, 32, 1024, nullptr, 256, out.get());
}

void run_stack_overflow() {
  DeviceBuffer<int> out(1);
  dg::cuda::launch<stack_overflow_kernel>(1, 1, 0, nullptr, out.get());
}

}  // namespace dg::test
