// The CUDA backend's DART ops (backend.h, "DART ops"; docs/dart.md): memory rows, token rows, the
// broadcast vector add, column tiling, the differential-attention λ and the differential combine.
//
// Expressions and summation orders follow the CPU reference (src/backend/cpu/ops_dart.cpp):
// where the CPU adds terms one after another into one element (tile_columns_backward, the memory
// rows' batch sum) the kernel does too, in the same order, and the results are bit-identical under
// the emulator. Sums over rows (add_vector's dv, a per-head λ's gradient) are column sums in a
// fixed order (column_sums.cuh).
//
// Performance left for later: the copies (memory_concat, token_rows, tile_columns) move one float
// per thread and iteration; float4 loads and stores, or folding them into the neighbouring ops'
// addressing, would save bandwidth and launches.
#include <cmath>

#include "backend/op_checks.h"
#include "column_sums.cuh"
#include "cuda_backend_impl.h"
#include "dialect.cuh"
#include "grid.cuh"
#include "warp_rows.cuh"

namespace dg::cuda {

namespace {

// ---- memory rows and token rows: [B, S·D] matrices, one row per sequence ---------------------------------

// x[b] = [memory ; tok[b]]: the first M·D columns of every row come from memory.
__global__ void memory_concat_forward_kernel(float* x, const float* memory, const float* tok, int64_t batch,
                                             int64_t memory_elems, int64_t tok_elems) {
  const int64_t seq_elems = memory_elems + tok_elems;
  for (int64_t c = tile_col(); c < seq_elems; c += tile_col_stride())
    for (int64_t b = tile_row(); b < batch; b += tile_row_stride())
      x[b * seq_elems + c] = c < memory_elems ? memory[c] : tok[b * tok_elems + c - memory_elems];
}

// One thread per element of a sequence, looping over the batch: a memory element's batch sum is
// one thread's, in batch order (the CPU's order); a token element is copied into dtok for every b.
__global__ void memory_concat_backward_kernel(float* dmemory, float* dtok, const float* dx, int64_t batch,
                                              int64_t memory_elems, int64_t tok_elems) {
  const int64_t seq_elems = memory_elems + tok_elems;
  for (int64_t c = global_index(); c < seq_elems; c += global_stride()) {
    if (c < memory_elems) {
      float total = 0.0f;
      for (int64_t b = 0; b < batch; ++b) total += dx[b * seq_elems + c];
      dmemory[c] += total;
    } else {
      for (int64_t b = 0; b < batch; ++b) dtok[b * tok_elems + c - memory_elems] += dx[b * seq_elems + c];
    }
  }
}

// out[b] = the last T·D elements of x[b] (S·D of them).
__global__ void token_rows_forward_kernel(float* out, const float* x, int64_t batch, int64_t seq_elems,
                                          int64_t tok_elems) {
  const int64_t skip = seq_elems - tok_elems;
  for (int64_t c = tile_col(); c < tok_elems; c += tile_col_stride())
    for (int64_t b = tile_row(); b < batch; b += tile_row_stride()) out[b * tok_elems + c] = x[b * seq_elems + skip + c];
}

__global__ void token_rows_backward_kernel(float* dx, const float* dout, int64_t batch, int64_t seq_elems,
                                           int64_t tok_elems) {
  const int64_t skip = seq_elems - tok_elems;
  for (int64_t c = tile_col(); c < tok_elems; c += tile_col_stride())
    for (int64_t b = tile_row(); b < batch; b += tile_row_stride()) dx[b * seq_elems + skip + c] += dout[b * tok_elems + c];
}

// ---- broadcast vector add and column tiling --------------------------------------------------------------------

__global__ void add_vector_forward_kernel(float* x, const float* v, int64_t rows, int64_t dim) {
  for (int64_t c = tile_col(); c < dim; c += tile_col_stride()) {
    const float vc = v[c];
    for (int64_t r = tile_row(); r < rows; r += tile_row_stride()) x[r * dim + c] += vc;
  }
}

// out viewed as [rows, copies·width]: column c repeats column c % width of x.
__global__ void tile_columns_forward_kernel(float* out, const float* x, int64_t rows, int64_t width, int64_t copies) {
  const int64_t cols = width * copies;
  for (int64_t c = tile_col(); c < cols; c += tile_col_stride()) {
    const int64_t source = c % width;
    for (int64_t r = tile_row(); r < rows; r += tile_row_stride()) out[r * cols + c] = x[r * width + source];
  }
}

// dx[r, c] += dout[r, k·W + c] for k = 0, 1, ... one add at a time, as the CPU does.
__global__ void tile_columns_backward_kernel(float* dx, const float* dout, int64_t rows, int64_t width, int64_t copies) {
  const int64_t cols = width * copies;
  for (int64_t c = tile_col(); c < width; c += tile_col_stride())
    for (int64_t r = tile_row(); r < rows; r += tile_row_stride()) {
      float acc = dx[r * width + c];
      for (int64_t k = 0; k < copies; ++k) acc += dout[r * cols + k * width + c];
      dx[r * width + c] = acc;
    }
}

// ---- differential attention ---------------------------------------------------------------------------------------

// exp(a)·exp(b), not exp(a + b): the PR's evaluation order (they differ in the last bit).
__global__ void diff_lambda_forward_kernel(float* lambda, const float* lq1, const float* lk1, const float* lq2,
                                           const float* lk2, float lambda_init, int64_t heads) {
  for (int64_t h = global_index(); h < heads; h += global_stride())
    lambda[h] = expf(lq1[h]) * expf(lk1[h]) - expf(lq2[h]) * expf(lk2[h]) + lambda_init;
}

__global__ void diff_lambda_backward_kernel(float* dlq1, float* dlk1, float* dlq2, float* dlk2, const float* dlambda,
                                            const float* lq1, const float* lk1, const float* lq2, const float* lk2,
                                            int64_t heads) {
  for (int64_t h = global_index(); h < heads; h += global_stride()) {
    const float first = expf(lq1[h]) * expf(lk1[h]);
    const float second = expf(lq2[h]) * expf(lk2[h]);
    dlq1[h] += dlambda[h] * first;
    dlk1[h] += dlambda[h] * first;
    dlq2[h] -= dlambda[h] * second;
    dlk2[h] -= dlambda[h] * second;
  }
}

// Offsets (in heads) of output head i's pair inside a row of a [2H, hd].
__device__ inline int64_t first_of_pair(int64_t i, const DiffCombineShape& s) { return s.interleaved ? 2 * i : i; }
__device__ inline int64_t second_of_pair(int64_t i, const DiffCombineShape& s) {
  return s.interleaved ? 2 * i + 1 : s.heads + i;
}

// out viewed as [rows, heads·head_dim]: column c is head c / head_dim, feature c % head_dim.
__global__ void diff_combine_forward_kernel(float* out, const float* a, const float* lambda, DiffCombineShape s) {
  const int64_t H = s.heads, hd = s.head_dim, cols = H * hd;
  for (int64_t c = tile_col(); c < cols; c += tile_col_stride()) {
    const int64_t i = c / hd, d = c % hd;
    const int64_t off1 = first_of_pair(i, s) * hd + d, off2 = second_of_pair(i, s) * hd + d;
    for (int64_t r = tile_row(); r < s.rows; r += tile_row_stride()) {
      const float lam = s.per_row_lambda ? lambda[r * H + i] : lambda[i];
      const float* ar = a + r * 2 * cols;
      out[r * cols + c] = ar[off1] - lam * ar[off2];
    }
  }
}

// One warp per (row, head): da for the pair, and −Σ_d a2·dout into dlambda[row, head] (λ per
// token) or into dots[row, head] (λ per head: add_column_sums then sums the dots over rows).
__global__ void diff_combine_backward_kernel(float* da, float* dlambda, float* dots, const float* dout, const float* a,
                                             const float* lambda, DiffCombineShape s) {
  const int64_t H = s.heads, hd = s.head_dim, count = s.rows * H;
  for (int64_t ri = global_warp(); ri < count; ri += warp_count()) {
    const int64_t r = ri / H, i = ri % H;
    const float lam = s.per_row_lambda ? lambda[ri] : lambda[i];
    const int64_t off1 = (r * 2 * H + first_of_pair(i, s)) * hd, off2 = (r * 2 * H + second_of_pair(i, s)) * hd;
    const float* g = dout + ri * hd;
    float dot = 0.0f;
    for (int64_t d = warp_lane(); d < hd; d += kWarpSize) {
      da[off1 + d] += g[d];
      da[off2 + d] -= lam * g[d];
      dot += a[off2 + d] * g[d];
    }
    dot = warp_sum(dot);
    if (warp_lane() != 0) continue;
    if (s.per_row_lambda)
      dlambda[ri] -= dot;
    else
      dots[ri] = dot;
  }
}

}  // namespace

// ---- memory rows -----------------------------------------------------------------------------------------------

void CudaBackend::memory_concat_forward(const Tensor& x, const Tensor& memory, const Tensor& tok) {
  check_memory_concat_forward(Device::CUDA, x, memory, tok);
  const int64_t batch = x.dim(0), seq = x.dim(1), dim = x.dim(2), tok_rows = tok.dim(1);
  if (x.numel() == 0) return;
  const int64_t memory_elems = (seq - tok_rows) * dim, tok_elems = tok_rows * dim;
  launch<memory_concat_forward_kernel>(tile_grid(batch, seq * dim), tile_block(), 0, stream(), x.f32(), memory.f32(),
                                       tok.f32(), batch, memory_elems, tok_elems);
}

void CudaBackend::memory_concat_backward(const Tensor& dmemory, const Tensor& dtok, const Tensor& dx) {
  check_memory_concat_backward(Device::CUDA, dmemory, dtok, dx);
  const int64_t batch = dx.dim(0), seq = dx.dim(1), dim = dx.dim(2), tok_rows = dtok.dim(1);
  const int64_t memory_elems = (seq - tok_rows) * dim, tok_elems = tok_rows * dim;
  if (seq * dim == 0) return;
  // With batch 0 the memory gradient still receives its (empty, zero) sums, as on the CPU.
  launch<memory_concat_backward_kernel>(grid_for(seq * dim), kThreads, 0, stream(), dmemory.f32(), dtok.f32(),
                                        dx.f32(), batch, memory_elems, tok_elems);
}

// ---- token rows ------------------------------------------------------------------------------------------------

void CudaBackend::token_rows_forward(const Tensor& out, const Tensor& x) {
  check_token_rows_forward(Device::CUDA, out, x);
  if (out.numel() == 0) return;
  const int64_t batch = x.dim(0), dim = x.dim(2);
  launch<token_rows_forward_kernel>(tile_grid(batch, out.dim(1) * dim), tile_block(), 0, stream(), out.f32(), x.f32(),
                                    batch, x.dim(1) * dim, out.dim(1) * dim);
}

void CudaBackend::token_rows_backward(const Tensor& dx, const Tensor& dout) {
  check_token_rows_backward(Device::CUDA, dx, dout);
  if (dout.numel() == 0) return;
  const int64_t batch = dx.dim(0), dim = dx.dim(2);
  launch<token_rows_backward_kernel>(tile_grid(batch, dout.dim(1) * dim), tile_block(), 0, stream(), dx.f32(),
                                     dout.f32(), batch, dx.dim(1) * dim, dout.dim(1) * dim);
}

// ---- broadcast vector add ------------------------------------------------------------------------------------------

void CudaBackend::add_vector_forward(const Tensor& x, const Tensor& v) {
  check_add_vector_forward(Device::CUDA, x, v);
  const int64_t rows = x.rows(), dim = x.dim(-1);
  if (rows == 0 || dim == 0) return;
  launch<add_vector_forward_kernel>(tile_grid(rows, dim), tile_block(), 0, stream(), x.f32(), v.f32(), rows, dim);
}

void CudaBackend::add_vector_backward(const Tensor& dv, const Tensor& dx) {
  check_add_vector_backward(Device::CUDA, dv, dx);
  const int64_t rows = dx.rows(), dim = dx.dim(-1);
  if (rows == 0 || dim == 0) return;
  const ColumnSums plan(rows, dim);
  auto* partials = static_cast<float*>(scratch(kReductionScratchSlot, plan.partial_count() * sizeof(float)));
  add_column_sums(dv.f32(), dx.f32(), rows, dim, 1.0f, partials, stream());
}

// ---- column tiling ------------------------------------------------------------------------------------------------

void CudaBackend::tile_columns_forward(const Tensor& out, const Tensor& x) {
  const int64_t copies = check_tile_columns_forward(Device::CUDA, out, x);
  const int64_t rows = x.rows(), width = x.dim(-1);
  if (rows == 0 || copies == 0) return;
  launch<tile_columns_forward_kernel>(tile_grid(rows, width * copies), tile_block(), 0, stream(), out.f32(), x.f32(),
                                      rows, width, copies);
}

void CudaBackend::tile_columns_backward(const Tensor& dx, const Tensor& dout) {
  const int64_t copies = check_tile_columns_backward(Device::CUDA, dx, dout);
  const int64_t rows = dx.rows(), width = dx.dim(-1);
  if (rows == 0) return;
  launch<tile_columns_backward_kernel>(tile_grid(rows, width), tile_block(), 0, stream(), dx.f32(), dout.f32(), rows,
                                       width, copies);
}

// ---- differential-attention λ ---------------------------------------------------------------------------------------

void CudaBackend::diff_lambda_forward(const Tensor& lambda, const Tensor& lq1, const Tensor& lk1, const Tensor& lq2,
                                      const Tensor& lk2, float lambda_init) {
  check_diff_lambda_forward(Device::CUDA, lambda, lq1, lk1, lq2, lk2);
  const int64_t heads = lambda.numel();
  if (heads == 0) return;
  launch<diff_lambda_forward_kernel>(grid_for(heads), kThreads, 0, stream(), lambda.f32(), lq1.f32(), lk1.f32(),
                                     lq2.f32(), lk2.f32(), lambda_init, heads);
}

void CudaBackend::diff_lambda_backward(const Tensor& dlq1, const Tensor& dlk1, const Tensor& dlq2, const Tensor& dlk2,
                                       const Tensor& dlambda, const Tensor& lq1, const Tensor& lk1, const Tensor& lq2,
                                       const Tensor& lk2) {
  check_diff_lambda_backward(Device::CUDA, dlq1, dlk1, dlq2, dlk2, dlambda, lq1, lk1, lq2, lk2);
  const int64_t heads = dlambda.numel();
  if (heads == 0) return;
  launch<diff_lambda_backward_kernel>(grid_for(heads), kThreads, 0, stream(), dlq1.f32(), dlk1.f32(), dlq2.f32(),
                                      dlk2.f32(), dlambda.f32(), lq1.f32(), lk1.f32(), lq2.f32(), lk2.f32(), heads);
}

// ---- differential combine ------------------------------------------------------------------------------------------

void CudaBackend::diff_combine_forward(const Tensor& out, const Tensor& a, const Tensor& lambda, bool interleaved) {
  const DiffCombineShape s = check_diff_combine_forward(Device::CUDA, out, a, lambda, interleaved);
  if (out.numel() == 0) return;
  launch<diff_combine_forward_kernel>(tile_grid(s.rows, s.heads * s.head_dim), tile_block(), 0, stream(), out.f32(),
                                      a.f32(), lambda.f32(), s);
}

void CudaBackend::diff_combine_backward(const Tensor& da, const Tensor& dlambda, const Tensor& dout, const Tensor& a,
                                        const Tensor& lambda, bool interleaved) {
  const DiffCombineShape s = check_diff_combine_backward(Device::CUDA, da, dlambda, dout, a, lambda, interleaved);
  const int64_t count = s.rows * s.heads;
  if (count == 0) return;
  float* dots = nullptr;
  float* partials = nullptr;
  if (!s.per_row_lambda) {  // scratch: the per-(row, head) dots, then the column sums' partials
    const ColumnSums plan(s.rows, s.heads);
    dots = static_cast<float*>(scratch(kReductionScratchSlot, (count + plan.partial_count()) * sizeof(float)));
    partials = dots + count;
  }
  launch<diff_combine_backward_kernel>(grid_for(count * kWarpSize), kThreads, 0, stream(), da.f32(), dlambda.f32(), dots,
                                       dout.f32(), a.f32(), lambda.f32(), s);
  if (!s.per_row_lambda) add_column_sums(dlambda.f32(), dots, s.rows, s.heads, -1.0f, partials, stream());
}

}  // namespace dg::cuda
