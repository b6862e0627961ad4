// val_bpb's byte count on the GPU: bytes(target) = base_bytes[target]
//   + (has_leading_space[target] && !is_boundary[prev]), summed over all targets.
#include <algorithm>
#include <vector>

#include "cuda_check.cuh"
#include "cuda_device.h"
#include "dialect.cuh"

namespace dg::cuda {
namespace {

__global__ void count_target_bytes_kernel(const int16_t* base_bytes, const uint8_t* leading_space,
                                          const uint8_t* boundary, const int32_t* prev, const int32_t* target,
                                          int64_t n, unsigned long long* total) {
  unsigned long long local = 0;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int32_t t = target[i];
    local += static_cast<unsigned long long>(base_bytes[t]) + (leading_space[t] && !boundary[prev[i]] ? 1u : 0u);
  }
  // Warp reduction, then one atomic per warp (blocks are whole warps).
  for (int offset = 16; offset > 0; offset /= 2) local += __shfl_down_sync(0xffffffffu, local, offset);
  if ((threadIdx.x & 31) == 0) atomicAdd(total, local);
}

template <class T>
T* to_device(const T* host, size_t count) {
  T* device = nullptr;
  DG_CUDA_CHECK(cudaMalloc(&device, count * sizeof(T) + 1));
  if (count > 0) DG_CUDA_CHECK(cudaMemcpy(device, host, count * sizeof(T), cudaMemcpyHostToDevice));
  return device;
}

}  // namespace

int64_t count_target_bytes(const data::ByteLuts& luts, const int32_t* prev_ids, const int32_t* target_ids, int64_t n) {
  if (n <= 0) return 0;
  const size_t table = luts.base_bytes.size();
  int16_t* d_base = to_device(luts.base_bytes.data(), table);
  uint8_t* d_space = to_device(luts.has_leading_space.data(), table);
  uint8_t* d_boundary = to_device(luts.is_boundary.data(), table);
  int32_t* d_prev = to_device(prev_ids, static_cast<size_t>(n));
  int32_t* d_target = to_device(target_ids, static_cast<size_t>(n));
  unsigned long long* d_total = nullptr;
  DG_CUDA_CHECK(cudaMalloc(&d_total, sizeof(unsigned long long)));
  DG_CUDA_CHECK(cudaMemset(d_total, 0, sizeof(unsigned long long)));
  const int threads = 256;
  const int blocks = static_cast<int>(std::min<int64_t>((n + threads - 1) / threads, 1024));
  launch<count_target_bytes_kernel>(blocks, threads, 0, nullptr, d_base, d_space, d_boundary, d_prev, d_target, n,
                                    d_total);
  unsigned long long total = 0;
  DG_CUDA_CHECK(cudaMemcpy(&total, d_total, sizeof total, cudaMemcpyDeviceToHost));
  for (void* p : {static_cast<void*>(d_base), static_cast<void*>(d_space), static_cast<void*>(d_boundary),
                  static_cast<void*>(d_prev), static_cast<void*>(d_target), static_cast<void*>(d_total)})
    cudaFree(p);
  return static_cast<int64_t>(total);
}

}  // namespace dg::cuda
