#include "rmsnorm.h"

#include "device_buffer.cuh"
#include "dialect.cuh"

namespace dg::test {
namespace {

constexpr int kWarpsPerBlock = 4;

__device__ float to_float(float v) { return v; }
__device__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
template <class T>
__device__ T from_float(float v);
template <>
__device__ float from_float<float>(float v) {
  return v;
}
template <>
__device__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16(v);
}

template <class T>
__global__ void rmsnorm_forward_kernel(T* out, float* rstd, const T* x, const T* weight, int rows, int cols,
                                       float eps) {
  DG_DYNAMIC_SHARED(float, w);  // cols floats
  for (int i = threadIdx.x; i < cols; i += blockDim.x) w[i] = to_float(weight[i]);
  __syncthreads();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int row = blockIdx.x * kWarpsPerBlock + warp;
  if (row >= rows) return;
  const T* xr = x + static_cast<size_t>(row) * cols;
  float sum = 0.0f;
  for (int i = lane; i < cols; i += 32) {
    const float v = to_float(xr[i]);
    sum += v * v;
  }
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  const float s = rsqrtf(sum / cols + eps);
  if (lane == 0) rstd[row] = s;
  T* o = out + static_cast<size_t>(row) * cols;
  for (int i = lane; i < cols; i += 32) o[i] = from_float<T>(to_float(xr[i]) * s * w[i]);
}

template <class T>
RmsnormOutput run(const std::vector<T>& x, const std::vector<T>& weight, int rows, int cols, float eps) {
  DeviceBuffer<T> d_x(x), d_weight(weight), d_out(x.size());
  DeviceBuffer<float> d_rstd(static_cast<size_t>(rows));
  const int blocks = (rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
  dg::cuda::launch<rmsnorm_forward_kernel<T>>(blocks, 32 * kWarpsPerBlock, cols * sizeof(float), nullptr, d_out.get(),
                                              d_rstd.get(), d_x.get(), d_weight.get(), rows, cols, eps);
  RmsnormOutput result;
  for (const T& v : d_out.to_host()) result.out.push_back(static_cast<float>(v));
  result.rstd = d_rstd.to_host();
  return result;
}

std::vector<__nv_bfloat16> to_bf16(const std::vector<float>& v) {
  std::vector<__nv_bfloat16> out;
  for (float f : v) out.push_back(__float2bfloat16(f));
  return out;
}

}  // namespace

RmsnormOutput rmsnorm_forward(const std::vector<float>& x, const std::vector<float>& weight, int rows, int cols,
                              float eps, bool bf16) {
  DG_CHECK(x.size() == static_cast<size_t>(rows) * cols && weight.size() == static_cast<size_t>(cols),
           "rmsnorm_forward: x must be [rows, cols] and weight [cols]");
  return bf16 ? run(to_bf16(x), to_bf16(weight), rows, cols, eps) : run(x, weight, rows, cols, eps);
}

}  // namespace dg::test
