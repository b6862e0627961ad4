#include "ptx_misuse.h"

#include "device_buffer.cuh"
#include "dialect.cuh"
#include "ptx.cuh"

namespace dg::test {
namespace {

__global__ void ldmatrix_from_global_kernel(const uint16_t* global, uint32_t* out) {
  uint32_t r[1];
  dg::ptx::ldmatrix_x1(r, global + threadIdx.x * 8);
  out[threadIdx.x] = r[0];
}

__global__ void ldmatrix_misaligned_kernel(uint32_t* out) {
  __shared__ __align__(16) uint16_t tile[8 * 16 + 8];
  for (int i = threadIdx.x; i < 8 * 16 + 8; i += 32) tile[i] = static_cast<uint16_t>(i);
  __syncwarp();
  uint32_t r[1];
  dg::ptx::ldmatrix_x1(r, tile + 4 + (threadIdx.x % 8) * 16);  // 8 bytes past a 16-byte boundary
  out[threadIdx.x] = r[0];
}

__global__ void cp_async_into_global_kernel(uint32_t* global_destination, const uint32_t* source) {
  dg::ptx::cp_async_16(global_destination + 4 * threadIdx.x, source + 4 * threadIdx.x);
  dg::ptx::cp_async_wait_all();
}

__global__ void trap_kernel(int* out) {
  if (threadIdx.x == 5) __trap();
  out[threadIdx.x] = 1;
}

}  // namespace

void ldmatrix_from_global_memory() {
  DeviceBuffer<uint16_t> global(32 * 8);
  DeviceBuffer<uint32_t> out(32);
  dg::cuda::launch<ldmatrix_from_global_kernel>(1, 32, 0, nullptr, global.get(), out.get());
}

void ldmatrix_misaligned() {
  DeviceBuffer<uint32_t> out(32);
  dg::cuda::launch<ldmatrix_misaligned_kernel>(1, 32, 0, nullptr, out.get());
}

void cp_async_into_global_memory() {
  DeviceBuffer<uint32_t> destination(128), source(std::vector<uint32_t>(128, 7u));
  dg::cuda::launch<cp_async_into_global_kernel>(1, 32, 0, nullptr, destination.get(), source.get());
}

void run_trap() {
  DeviceBuffer<int> out(32);
  dg::cuda::launch<trap_kernel>(1, 32, 0, nullptr, out.get());
}

}  // namespace dg::test
