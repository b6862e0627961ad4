// RMSNorm (no weight) and rotary embedding on the GPU, against the CPU reference of
// src/backend/cpu/ops_norm.cpp and ops_rope.cpp.
//
// RMSNorm: one warp per row, grid-stride over rows (8 rows per 256-thread block). The row's sums
// are each lane's strided partial sum followed by a fixed xor-butterfly across the warp, so the
// result never depends on scheduling. A faster version would load float4 when dim % 4 == 0 and
// keep the row in registers between the two passes (it is read twice from L1/L2 now).
//
// RoPE: one thread per (batch, position, frequency i); it computes cos/sin of its angle once and
// rotates the pair (i, i + hd/2) of every head of that position, so a warp's loads and stores of
// one head are 32 consecutive floats. The angle is the CPU's to the bit: inv_freq = 1/base^(2i/hd)
// is computed on the host with the same float expression as cpu::rope_tables (std::pow in float)
// and passed to the kernel by value, and angle = float(p)·inv_freq is one fp32 multiply on both
// sides. Only cosf/sinf differ (CUDA's are within 2 ulp, glibc's within 1), so rotated values
// agree to a few ulp at every position, 1000 and beyond included; an angle computed on the device
// with powf (2 ulp) would carry that relative error times p into the angle instead. No table is
// cached: inv_freq is hd/2 host powf calls per launch, and the backend holds no rope state.
#include <cfloat>
#include <cmath>

#include "backend/op_checks.h"
#include "backend/shape_checks.h"
#include "cuda_backend_impl.h"
#include "dialect.cuh"
#include "grid.cuh"
#include "warp_rows.cuh"

namespace dg::cuda {

using namespace shape_checks;

namespace {

constexpr int64_t kMaxRopeHalf = 256;  // head_dim ≤ 512: the frequencies travel as a 1 KiB kernel argument

__global__ void rmsnorm_forward_kernel(float* out, float* rstd, const float* x, int64_t rows, int64_t dim,
                                       float eps) {
  const int lane = warp_lane();
  for (int64_t row = global_warp(); row < rows; row += warp_count()) {
    const float* xr = x + row * dim;
    float sum = 0.0f;
    for (int64_t c = lane; c < dim; c += kWarpSize) sum += xr[c] * xr[c];
    sum = warp_sum(sum);
    // As the CPU: a row whose Σx² overflowed (or is NaN) gets rstd = NaN, not rsqrt(inf) = 0.
    const float inv = fabsf(sum) <= FLT_MAX ? 1.0f / sqrtf(sum / static_cast<float>(dim) + eps)
                                            : __int_as_float(0x7fc00000);  // the CPU's quiet_NaN()
    if (lane == 0) rstd[row] = inv;
    float* outr = out + row * dim;
    for (int64_t c = lane; c < dim; c += kWarpSize) outr[c] = xr[c] * inv;
  }
}

// dx += rstd·dout − rstd³·(dout·x)/dim · x
__global__ void rmsnorm_backward_kernel(float* dx, const float* dout, const float* x, const float* rstd, int64_t rows,
                                        int64_t dim) {
  const int lane = warp_lane();
  for (int64_t row = global_warp(); row < rows; row += warp_count()) {
    const float* xr = x + row * dim;
    const float* gr = dout + row * dim;
    float dot = 0.0f;
    for (int64_t c = lane; c < dim; c += kWarpSize) dot += gr[c] * xr[c];
    dot = warp_sum(dot);
    const float inv = rstd[row];
    const float coeff = inv * inv * inv * dot / static_cast<float>(dim);
    float* dxr = dx + row * dim;
    for (int64_t c = lane; c < dim; c += kWarpSize) dxr[c] += inv * gr[c] - coeff * xr[c];
  }
}

struct RopeFrequencies {
  float inv_freq[kMaxRopeHalf];
};

// x [batch, seq, heads, head_dim]; rows start..seq-1 are rotated by angle (t − start)·inv_freq[i].
// sign = −1 applies the transposed rotation (sin negated), as the CPU does.
__global__ void rope_kernel(float* x, RopeFrequencies freq, int64_t batch, int64_t seq, int64_t heads,
                            int64_t head_dim, int64_t start, float sign) {
  // Every thread reads inv_freq at its own i: from shared memory, not from the kernel-argument
  // bank, whose reads of distinct addresses in one warp are serialised.
  __shared__ float inv_freq[kMaxRopeHalf];
  const int64_t half = head_dim / 2;
  for (int64_t i = threadIdx.x; i < half; i += blockDim.x) inv_freq[i] = freq.inv_freq[i];
  __syncthreads();
  const int64_t rotated = seq - start;
  const int64_t n = batch * rotated * half;
  for (int64_t idx = global_index(); idx < n; idx += global_stride()) {
    const int64_t i = idx % half, bp = idx / half;
    const int64_t b = bp / rotated, p = bp % rotated;
    const float angle = static_cast<float>(p) * inv_freq[i];
    const float c = cosf(angle), sn = sign * sinf(angle);
    float* row = x + (b * seq + start + p) * heads * head_dim;
    for (int64_t h = 0; h < heads; ++h) {
      float* x1 = row + h * head_dim + i;
      float* x2 = x1 + half;
      const float a = *x1, b2 = *x2;
      *x1 = a * c + b2 * sn;
      *x2 = b2 * c - a * sn;
    }
  }
}

}  // namespace

void CudaBackend::rmsnorm_forward(const Tensor& out, const Tensor& rstd, const Tensor& x, float eps) {
  check_rmsnorm_forward(Device::CUDA, out, rstd, x);
  const int64_t rows = x.rows(), dim = x.dim(-1);
  if (rows == 0) return;
  launch<rmsnorm_forward_kernel>(grid_for(rows * kWarpSize), kThreads, 0, stream_, out.f32(), rstd.f32(), x.f32(), rows,
                                 dim, eps);
}

void CudaBackend::rmsnorm_backward(const Tensor& dx, const Tensor& dout, const Tensor& x, const Tensor& rstd) {
  check_rmsnorm_backward(Device::CUDA, dx, dout, x, rstd);
  const int64_t rows = x.rows(), dim = x.dim(-1);
  if (rows == 0) return;
  launch<rmsnorm_backward_kernel>(grid_for(rows * kWarpSize), kThreads, 0, stream_, dx.f32(), dout.f32(), x.f32(),
                                  rstd.f32(), rows, dim);
}

void CudaBackend::rope(const Tensor& x, float base, int64_t start, bool inverse) {
  check_rope(Device::CUDA, x, base, start);
  const int64_t seq = x.dim(1), head_dim = x.dim(3);
  DG_CHECK(head_dim <= 2 * kMaxRopeHalf,
           "rope: the CUDA backend supports head_dim up to " << 2 * kMaxRopeHalf << ", x is " << describe(x));
  const int64_t half = head_dim / 2, n = x.dim(0) * (seq - start) * half;
  if (n == 0 || x.dim(2) == 0) return;
  RopeFrequencies freq{};
  for (int64_t i = 0; i < half; ++i) {
    // cpu::rope_tables<float>'s expression, evaluated the same way (float division, float pow).
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    freq.inv_freq[i] = 1.0f / std::pow(base, exponent);
  }
  launch<rope_kernel>(grid_for(n), kThreads, 0, stream_, x.f32(), freq, x.dim(0), seq, x.dim(2), head_dim, start,
                      inverse ? -1.0f : 1.0f);
}

}  // namespace dg::cuda
