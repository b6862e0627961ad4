// The CUDA backend's elementwise and per-feature ops (backend.h): axpy, scale, sum_squares, relu²,
// residual mix, scaled add, per-head gain, sigmoid, GELU and the gated add.
//
// Every expression is the CPU reference's (src/backend/cpu/ops_elementwise.cpp, ops_dart.cpp,
// ops_blocks.cpp) with the same association, so the emulator (g++, no contraction) reproduces the
// CPU bit for bit where no sum is reordered; nvcc contracts a·b + c into one fma, a rounding apart.
// Sums over rows (dmix, ds, dgain) are column sums in a fixed order (column_sums.cuh).
//
// Performance left for later: the elementwise kernels load one float per thread and iteration;
// float4 loads where the views are 16-byte aligned, and fusing neighbouring ops (relu² into the
// MLP's matmul epilogue, resid_mix into rmsnorm), would save bandwidth and launches.
#include <cmath>

#include "backend/op_checks.h"
#include "block_reduce.cuh"
#include "column_sums.cuh"
#include "cuda_backend_impl.h"
#include "cuda_check.cuh"
#include "dialect.cuh"
#include "grid.cuh"
#include "warp_rows.cuh"

namespace dg::cuda {

namespace {

// ---- 1-D elementwise kernels (grid-stride) ---------------------------------------------------------

__global__ void axpy_kernel(float* y, float alpha, const float* x, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) y[i] += alpha * x[i];
}

__global__ void scale_kernel(float* x, float alpha, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) x[i] *= alpha;
}

// relu(x) = (x + |x|)/2 as the CPU computes it: NaN stays NaN, where fmaxf(x, 0) would give 0.
__device__ inline float relu(float x) { return 0.5f * (x + fabsf(x)); }

__global__ void relu2_forward_kernel(float* out, const float* x, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) {
    const float r = relu(x[i]);
    out[i] = r * r;
  }
}

__global__ void relu2_backward_kernel(float* dx, const float* dout, const float* x, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) dx[i] += 2.0f * relu(x[i]) * dout[i];
}

// expf, not the fast __expf: the CPU reference's accuracy (both within 2 ulp of e^x).
__global__ void sigmoid_forward_kernel(float* out, const float* x, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) out[i] = 1.0f / (1.0f + expf(-x[i]));
}

__global__ void sigmoid_backward_kernel(float* dx, const float* dout, const float* out, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) dx[i] += dout[i] * out[i] * (1.0f - out[i]);
}

constexpr float kInvSqrt2 = 0.70710678118654752440f, kInvSqrt2Pi = 0.39894228040143267794f;

__global__ void gelu_forward_kernel(float* out, const float* x, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) out[i] = 0.5f * x[i] * (1.0f + erff(x[i] * kInvSqrt2));
}

__global__ void gelu_backward_kernel(float* dx, const float* dout, const float* x, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) {
    const float cdf = 0.5f * (1.0f + erff(x[i] * kInvSqrt2));
    const float pdf = kInvSqrt2Pi * expf(-0.5f * x[i] * x[i]);
    dx[i] += dout[i] * (cdf + x[i] * pdf);
  }
}

// ---- Σ x² in double: per-block partial sums, then one block adds them (both in a fixed order) --------

__global__ void sum_squares_blocks_kernel(double* partials, const float* x, int64_t n) {
  __shared__ double scratch[33];
  double total = 0.0;
  for (int64_t i = global_index(); i < n; i += global_stride()) {
    const double v = x[i];
    total += v * v;
  }
  total = block_allreduce(total, SumOp{}, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

// One block of kThreads threads: thread t adds partials t, t + kThreads, ... then the block sum.
__global__ void sum_partials_kernel(double* out, const double* partials, int64_t count) {
  __shared__ double scratch[33];
  double total = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += kThreads) total += partials[i];
  total = block_allreduce(total, SumOp{}, scratch);
  if (threadIdx.x == 0) *out = total;
}

// ---- row-wise ops on [rows, cols] (tile mapping of column_sums.cuh) ----------------------------------

__global__ void resid_mix_forward_kernel(float* out, const float* x, const float* x0, const float* mix, int64_t rows,
                                         int64_t dim) {
  for (int64_t c = tile_col(); c < dim; c += tile_col_stride()) {
    const float m0 = mix[c], m1 = mix[dim + c];
    for (int64_t r = tile_row(); r < rows; r += tile_row_stride()) {
      const int64_t i = r * dim + c;
      out[i] = m0 * x[i] + m1 * x0[i];
    }
  }
}

// dx, dx0 elementwise; partials of dmix[0] = Σ dout·x and dmix[1] = Σ dout·x0.
__global__ void resid_mix_backward_kernel(ColumnSums plan, float* partials, float* dx, float* dx0, const float* dout,
                                          const float* x, const float* x0, const float* mix) {
  const int64_t dim = plan.cols;
  sum_column_chunk<2>(plan, partials, [&](int64_t r, int64_t c, float* acc) {
    const int64_t i = r * dim + c;
    const float g = dout[i];
    dx[i] += mix[c] * g;
    dx0[i] += mix[dim + c] * g;
    acc[0] += g * x[i];
    acc[1] += g * x0[i];
  });
}

__global__ void add_scaled_forward_kernel(float* x, const float* s, const float* y, int64_t rows, int64_t dim) {
  for (int64_t c = tile_col(); c < dim; c += tile_col_stride()) {
    const float sc = s[c];
    for (int64_t r = tile_row(); r < rows; r += tile_row_stride()) x[r * dim + c] += sc * y[r * dim + c];
  }
}

__global__ void add_scaled_backward_kernel(ColumnSums plan, float* partials, float* dy, const float* dx, const float* s,
                                           const float* y) {
  sum_column_chunk<1>(plan, partials, [&](int64_t r, int64_t c, float* acc) {
    const int64_t i = r * plan.cols + c;
    dy[i] += s[c] * dx[i];
    acc[0] += dx[i] * y[i];
  });
}

__global__ void gated_add_forward_kernel(float* x, const float* gate, const float* s, const float* y, int64_t rows,
                                         int64_t dim) {
  for (int64_t c = tile_col(); c < dim; c += tile_col_stride()) {
    const float sc = s[c];
    for (int64_t r = tile_row(); r < rows; r += tile_row_stride()) {
      const int64_t i = r * dim + c;
      x[i] += (gate[i] * sc) * y[i];
    }
  }
}

__global__ void gated_add_backward_kernel(ColumnSums plan, float* partials, float* dy, float* dgate, const float* dx,
                                          const float* gate, const float* s, const float* y) {
  sum_column_chunk<1>(plan, partials, [&](int64_t r, int64_t c, float* acc) {
    const int64_t i = r * plan.cols + c;
    const float g = dx[i];
    dy[i] += gate[i] * s[c] * g;
    dgate[i] += s[c] * y[i] * g;
    acc[0] += gate[i] * y[i] * g;
  });
}

// x viewed as [rows, heads·head_dim]: column c belongs to head c / head_dim.
__global__ void head_scale_forward_kernel(float* out, const float* x, const float* gain, int64_t rows, int64_t heads,
                                          int64_t head_dim) {
  const int64_t cols = heads * head_dim;
  for (int64_t c = tile_col(); c < cols; c += tile_col_stride()) {
    const float g = gain[c / head_dim];
    for (int64_t r = tile_row(); r < rows; r += tile_row_stride()) out[r * cols + c] = x[r * cols + c] * g;
  }
}

// One warp per (row, head): dx += dout·gain[h], and dots[row, h] = Σ_d dout·x (the CPU's per-row
// partial), which add_column_sums then sums over rows into dgain.
__global__ void head_scale_backward_kernel(float* dx, float* dots, const float* dout, const float* x, const float* gain,
                                           int64_t rows, int64_t heads, int64_t head_dim) {
  const int64_t count = rows * heads;
  for (int64_t rh = global_warp(); rh < count; rh += warp_count()) {
    const float g = gain[rh % heads];
    const int64_t base = rh * head_dim;
    float dot = 0.0f;
    for (int64_t d = warp_lane(); d < head_dim; d += kWarpSize) {
      dx[base + d] += dout[base + d] * g;
      dot += dout[base + d] * x[base + d];
    }
    dot = warp_sum(dot);
    if (warp_lane() == 0) dots[rh] = dot;
  }
}

}  // namespace

// ---- elementwise -----------------------------------------------------------------------------------------

void CudaBackend::axpy(const Tensor& y, float alpha, const Tensor& x) {
  check_axpy(Device::CUDA, y, x);
  const int64_t n = y.numel();
  if (n == 0) return;
  launch<axpy_kernel>(grid_for(n), kThreads, 0, stream(), y.f32(), alpha, x.f32(), n);
}

void CudaBackend::scale(const Tensor& x, float alpha) {
  check_scale(Device::CUDA, x);
  const int64_t n = x.numel();
  if (n == 0) return;
  launch<scale_kernel>(grid_for(n), kThreads, 0, stream(), x.f32(), alpha, n);
}

double CudaBackend::sum_squares(const Tensor& x) {
  check_sum_squares(Device::CUDA, x);
  const int64_t n = x.numel();
  if (n == 0) return 0.0;
  const dim3 grid = grid_for(n);
  auto* partials = static_cast<double*>(scratch(kReductionScratchSlot, (grid.x + 1) * sizeof(double)));
  double* total = partials + grid.x;
  launch<sum_squares_blocks_kernel>(grid, kThreads, 0, stream(), partials, x.f32(), n);
  launch<sum_partials_kernel>(dim3(1), kThreads, 0, stream(), total, partials, static_cast<int64_t>(grid.x));
  double result = 0.0;
  DG_CUDA_CHECK(cudaMemcpyAsync(&result, total, sizeof(double), cudaMemcpyDeviceToHost, stream()));
  DG_CUDA_CHECK(cudaStreamSynchronize(stream()));
  return result;
}

// ---- relu² ---------------------------------------------------------------------------------------------------

void CudaBackend::relu2_forward(const Tensor& out, const Tensor& x) {
  check_relu2_forward(Device::CUDA, out, x);
  const int64_t n = x.numel();
  if (n == 0) return;
  launch<relu2_forward_kernel>(grid_for(n), kThreads, 0, stream(), out.f32(), x.f32(), n);
}

void CudaBackend::relu2_backward(const Tensor& dx, const Tensor& dout, const Tensor& x) {
  check_relu2_backward(Device::CUDA, dx, dout, x);
  const int64_t n = x.numel();
  if (n == 0) return;
  launch<relu2_backward_kernel>(grid_for(n), kThreads, 0, stream(), dx.f32(), dout.f32(), x.f32(), n);
}

// ---- residual mix ----------------------------------------------------------------------------------------------

void CudaBackend::resid_mix_forward(const Tensor& out, const Tensor& x, const Tensor& x0, const Tensor& mix) {
  check_resid_mix_forward(Device::CUDA, out, x, x0, mix);
  const int64_t rows = x.rows(), dim = x.dim(-1);
  if (rows == 0 || dim == 0) return;
  launch<resid_mix_forward_kernel>(tile_grid(rows, dim), tile_block(), 0, stream(), out.f32(), x.f32(), x0.f32(),
                                   mix.f32(), rows, dim);
}

void CudaBackend::resid_mix_backward(const Tensor& dx, const Tensor& dx0, const Tensor& dmix, const Tensor& dout,
                                     const Tensor& x, const Tensor& x0, const Tensor& mix) {
  check_resid_mix_backward(Device::CUDA, dx, dx0, dmix, dout, x, x0, mix);
  const int64_t rows = x.rows(), dim = x.dim(-1);
  if (rows == 0 || dim == 0) return;
  const ColumnSums plan(rows, dim, 2);
  auto* partials = static_cast<float*>(scratch(kReductionScratchSlot, plan.partial_count() * sizeof(float)));
  launch<resid_mix_backward_kernel>(plan.grid(), tile_block(), 0, stream(), plan, partials, dx.f32(), dx0.f32(),
                                    dout.f32(), x.f32(), x0.f32(), mix.f32());
  finish_column_sums(dmix.f32(), partials, plan, 1.0f, stream());  // dmix [2, D]: sum k of column c at k·D + c
}

// ---- scaled residual add ------------------------------------------------------------------------------------------

void CudaBackend::add_scaled_forward(const Tensor& x, const Tensor& s, const Tensor& y) {
  check_add_scaled_forward(Device::CUDA, x, s, y);
  const int64_t rows = x.rows(), dim = x.dim(-1);
  if (rows == 0 || dim == 0) return;
  launch<add_scaled_forward_kernel>(tile_grid(rows, dim), tile_block(), 0, stream(), x.f32(), s.f32(), y.f32(), rows,
                                    dim);
}

void CudaBackend::add_scaled_backward(const Tensor& dy, const Tensor& ds, const Tensor& dx, const Tensor& s,
                                      const Tensor& y) {
  check_add_scaled_backward(Device::CUDA, dy, ds, dx, s, y);
  const int64_t rows = y.rows(), dim = y.dim(-1);
  if (rows == 0 || dim == 0) return;
  const ColumnSums plan(rows, dim);
  auto* partials = static_cast<float*>(scratch(kReductionScratchSlot, plan.partial_count() * sizeof(float)));
  launch<add_scaled_backward_kernel>(plan.grid(), tile_block(), 0, stream(), plan, partials, dy.f32(), dx.f32(),
                                     s.f32(), y.f32());
  finish_column_sums(ds.f32(), partials, plan, 1.0f, stream());
}

// ---- per-head gain ------------------------------------------------------------------------------------------

void CudaBackend::head_scale_forward(const Tensor& out, const Tensor& x, const Tensor& gain) {
  check_head_scale_forward(Device::CUDA, out, x, gain);
  const int64_t rows = x.dim(0) * x.dim(1), heads = x.dim(2), head_dim = x.dim(3);
  if (x.numel() == 0) return;
  launch<head_scale_forward_kernel>(tile_grid(rows, heads * head_dim), tile_block(), 0, stream(), out.f32(), x.f32(),
                                    gain.f32(), rows, heads, head_dim);
}

void CudaBackend::head_scale_backward(const Tensor& dx, const Tensor& dgain, const Tensor& dout, const Tensor& x,
                                      const Tensor& gain) {
  check_head_scale_backward(Device::CUDA, dx, dgain, dout, x, gain);
  const int64_t rows = x.dim(0) * x.dim(1), heads = x.dim(2), head_dim = x.dim(3);
  if (rows == 0 || heads == 0) return;
  // Scratch: the per-(row, head) dots, then the column sums' partials.
  const ColumnSums plan(rows, heads);
  auto* dots = static_cast<float*>(scratch(kReductionScratchSlot, (rows * heads + plan.partial_count()) * sizeof(float)));
  float* partials = dots + rows * heads;
  launch<head_scale_backward_kernel>(grid_for(rows * heads * kWarpSize), kThreads, 0, stream(), dx.f32(), dots, dout.f32(),
                                     x.f32(), gain.f32(), rows, heads, head_dim);
  add_column_sums(dgain.f32(), dots, rows, heads, 1.0f, partials, stream());
}

// ---- logistic sigmoid ---------------------------------------------------------------------------------------

void CudaBackend::sigmoid_forward(const Tensor& out, const Tensor& x) {
  check_sigmoid_forward(Device::CUDA, out, x);
  const int64_t n = x.numel();
  if (n == 0) return;
  launch<sigmoid_forward_kernel>(grid_for(n), kThreads, 0, stream(), out.f32(), x.f32(), n);
}

void CudaBackend::sigmoid_backward(const Tensor& dx, const Tensor& dout, const Tensor& out) {
  check_sigmoid_backward(Device::CUDA, dx, dout, out);
  const int64_t n = out.numel();
  if (n == 0) return;
  launch<sigmoid_backward_kernel>(grid_for(n), kThreads, 0, stream(), dx.f32(), dout.f32(), out.f32(), n);
}

// ---- GELU -----------------------------------------------------------------------------------------------------

void CudaBackend::gelu_forward(const Tensor& out, const Tensor& x) {
  check_gelu_forward(Device::CUDA, out, x);
  const int64_t n = x.numel();
  if (n == 0) return;
  launch<gelu_forward_kernel>(grid_for(n), kThreads, 0, stream(), out.f32(), x.f32(), n);
}

void CudaBackend::gelu_backward(const Tensor& dx, const Tensor& dout, const Tensor& x) {
  check_gelu_backward(Device::CUDA, dx, dout, x);
  const int64_t n = x.numel();
  if (n == 0) return;
  launch<gelu_backward_kernel>(grid_for(n), kThreads, 0, stream(), dx.f32(), dout.f32(), x.f32(), n);
}

// ---- gated scaled add -----------------------------------------------------------------------------------------

void CudaBackend::gated_add_forward(const Tensor& x, const Tensor& gate, const Tensor& s, const Tensor& y) {
  check_gated_add_forward(Device::CUDA, x, gate, s, y);
  const int64_t rows = x.rows(), dim = x.dim(-1);
  if (rows == 0 || dim == 0) return;
  launch<gated_add_forward_kernel>(tile_grid(rows, dim), tile_block(), 0, stream(), x.f32(), gate.f32(), s.f32(),
                                   y.f32(), rows, dim);
}

void CudaBackend::gated_add_backward(const Tensor& dy, const Tensor& dgate, const Tensor& ds, const Tensor& dx,
                                     const Tensor& gate, const Tensor& s, const Tensor& y) {
  check_gated_add_backward(Device::CUDA, dy, dgate, ds, dx, gate, s, y);
  const int64_t rows = y.rows(), dim = y.dim(-1);
  if (rows == 0 || dim == 0) return;
  const ColumnSums plan(rows, dim);
  auto* partials = static_cast<float*>(scratch(kReductionScratchSlot, plan.partial_count() * sizeof(float)));
  launch<gated_add_backward_kernel>(plan.grid(), tile_block(), 0, stream(), plan, partials, dy.f32(), dgate.f32(),
                                    dx.f32(), gate.f32(), s.f32(), y.f32());
  finish_column_sums(ds.f32(), partials, plan, 1.0f, stream());
}

}  // namespace dg::cuda
