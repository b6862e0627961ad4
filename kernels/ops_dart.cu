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
#include <utility>

#include "backend/shape_checks.h"
#include "column_sums.cuh"
#include "cuda_backend_impl.h"
#include "dialect.cuh"
#include "grid.cuh"
#include "warp_rows.cuh"

namespace dg::cuda {

using namespace shape_checks;

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

struct DiffCombineShape {
  int64_t rows = 0, heads = 0, head_dim = 0;  // a: [rows, 2·heads, head_dim]
  bool per_row_lambda = false;                // λ [rows, heads] instead of [heads]
  bool interleaved = false;                   // pairs (2i, 2i + 1) instead of (i, heads + i)
};

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

// The CPU backend's checks (cpu_backend.cpp), message for message.
void token_rows_shape(const char* op, const char* small_name, const Tensor& small, const char* big_name,
                      const Tensor& big) {
  require_rank(op, small_name, small, 3);
  require_rank(op, big_name, big, 3);
  DG_CHECK(small.dim(0) == big.dim(0) && small.dim(2) == big.dim(2) && small.dim(1) <= big.dim(1),
           op << ": " << small_name << " " << describe(small) << " must be [" << big.dim(0) << ", T <= " << big.dim(1)
              << ", " << big.dim(2) << "] for " << big_name << " " << describe(big));
  require_disjoint(op, small_name, small, big_name, big);
}

int64_t tile_copies(const char* op, const char* wide_name, const Tensor& wide, const char* narrow_name,
                    const Tensor& narrow) {
  DG_CHECK(wide.rows() == narrow.rows() && narrow.dim(-1) > 0 && wide.dim(-1) % narrow.dim(-1) == 0,
           op << ": " << wide_name << " " << describe(wide) << " must hold a whole number of copies of the rows of "
              << narrow_name << " " << describe(narrow));
  require_disjoint(op, wide_name, wide, narrow_name, narrow);
  return wide.dim(-1) / narrow.dim(-1);
}

DiffCombineShape diff_combine_shape(const char* op, const Tensor& out, const Tensor& a, const Tensor& lambda,
                                    bool interleaved) {
  require_rank(op, "a", a, 4);
  require_rank(op, "out", out, 4);
  DG_CHECK(a.dim(2) % 2 == 0, op << ": a " << describe(a) << " must hold an even number (2H) of heads");
  DiffCombineShape s{a.dim(0) * a.dim(1), a.dim(2) / 2, a.dim(3), false, interleaved};
  DG_CHECK(out.dim(0) == a.dim(0) && out.dim(1) == a.dim(1) && out.dim(2) == s.heads && out.dim(3) == s.head_dim,
           op << ": out " << describe(out) << " must be [" << a.dim(0) << ", " << a.dim(1) << ", " << s.heads << ", "
              << s.head_dim << "] for a " << describe(a));
  DG_CHECK(lambda.numel() == s.heads || lambda.numel() == s.rows * s.heads,
           op << ": lambda " << describe(lambda) << " must hold " << s.heads << " (per head) or " << s.rows * s.heads
              << " (per token and head) values");
  s.per_row_lambda = lambda.numel() == s.rows * s.heads && s.rows != 1;
  return s;
}

}  // namespace

// ---- memory rows -----------------------------------------------------------------------------------------------

void CudaBackend::memory_concat_forward(const Tensor& x, const Tensor& memory, const Tensor& tok) {
  const char* op = "memory_concat_forward";
  for (auto [name, t] : {std::pair{"x", &x}, {"memory", &memory}, {"tok", &tok}}) require_f32(op, name, *t, Device::CUDA);
  require_rank(op, "x", x, 3);
  require_rank(op, "tok", tok, 3);
  const int64_t batch = x.dim(0), seq = x.dim(1), dim = x.dim(2), tok_rows = tok.dim(1);
  DG_CHECK(tok.dim(0) == batch && tok.dim(2) == dim && tok_rows <= seq,
           op << ": tok " << describe(tok) << " must be [" << batch << ", T <= " << seq << ", " << dim << "] for x "
              << describe(x));
  require_numel(op, "memory", memory, (seq - tok_rows) * dim, "[memory rows, features of x]");
  require_disjoint(op, "x", x, "tok", tok);
  require_disjoint(op, "x", x, "memory", memory);
  if (x.numel() == 0) return;
  const int64_t memory_elems = (seq - tok_rows) * dim, tok_elems = tok_rows * dim;
  launch<memory_concat_forward_kernel>(tile_grid(batch, seq * dim), tile_block(), 0, stream(), x.f32(), memory.f32(),
                                       tok.f32(), batch, memory_elems, tok_elems);
}

void CudaBackend::memory_concat_backward(const Tensor& dmemory, const Tensor& dtok, const Tensor& dx) {
  const char* op = "memory_concat_backward";
  for (auto [name, t] : {std::pair{"dmemory", &dmemory}, {"dtok", &dtok}, {"dx", &dx}})
    require_f32(op, name, *t, Device::CUDA);
  require_rank(op, "dx", dx, 3);
  require_rank(op, "dtok", dtok, 3);
  const int64_t batch = dx.dim(0), seq = dx.dim(1), dim = dx.dim(2), tok_rows = dtok.dim(1);
  DG_CHECK(dtok.dim(0) == batch && dtok.dim(2) == dim && tok_rows <= seq,
           op << ": dtok " << describe(dtok) << " must be [" << batch << ", T <= " << seq << ", " << dim
              << "] for dx " << describe(dx));
  require_numel(op, "dmemory", dmemory, (seq - tok_rows) * dim, "[memory rows, features of dx]");
  require_disjoint(op, "dx", dx, "dtok", dtok);
  require_disjoint(op, "dx", dx, "dmemory", dmemory);
  const int64_t memory_elems = (seq - tok_rows) * dim, tok_elems = tok_rows * dim;
  if (seq * dim == 0) return;
  // With batch 0 the memory gradient still receives its (empty, zero) sums, as on the CPU.
  launch<memory_concat_backward_kernel>(grid_for(seq * dim), kThreads, 0, stream(), dmemory.f32(), dtok.f32(),
                                        dx.f32(), batch, memory_elems, tok_elems);
}

// ---- token rows ------------------------------------------------------------------------------------------------

void CudaBackend::token_rows_forward(const Tensor& out, const Tensor& x) {
  const char* op = "token_rows_forward";
  require_f32(op, "out", out, Device::CUDA);
  require_f32(op, "x", x, Device::CUDA);
  token_rows_shape(op, "out", out, "x", x);
  if (out.numel() == 0) return;
  const int64_t batch = x.dim(0), dim = x.dim(2);
  launch<token_rows_forward_kernel>(tile_grid(batch, out.dim(1) * dim), tile_block(), 0, stream(), out.f32(), x.f32(),
                                    batch, x.dim(1) * dim, out.dim(1) * dim);
}

void CudaBackend::token_rows_backward(const Tensor& dx, const Tensor& dout) {
  const char* op = "token_rows_backward";
  require_f32(op, "dx", dx, Device::CUDA);
  require_f32(op, "dout", dout, Device::CUDA);
  token_rows_shape(op, "dout", dout, "dx", dx);
  if (dout.numel() == 0) return;
  const int64_t batch = dx.dim(0), dim = dx.dim(2);
  launch<token_rows_backward_kernel>(tile_grid(batch, dout.dim(1) * dim), tile_block(), 0, stream(), dx.f32(),
                                     dout.f32(), batch, dx.dim(1) * dim, dout.dim(1) * dim);
}

// ---- broadcast vector add ------------------------------------------------------------------------------------------

void CudaBackend::add_vector_forward(const Tensor& x, const Tensor& v) {
  const char* op = "add_vector_forward";
  require_f32(op, "x", x, Device::CUDA);
  require_f32(op, "v", v, Device::CUDA);
  require_numel(op, "v", v, x.dim(-1), "one per feature of x");
  require_disjoint(op, "x", x, "v", v);
  const int64_t rows = x.rows(), dim = x.dim(-1);
  if (rows == 0 || dim == 0) return;
  launch<add_vector_forward_kernel>(tile_grid(rows, dim), tile_block(), 0, stream(), x.f32(), v.f32(), rows, dim);
}

void CudaBackend::add_vector_backward(const Tensor& dv, const Tensor& dx) {
  const char* op = "add_vector_backward";
  require_f32(op, "dv", dv, Device::CUDA);
  require_f32(op, "dx", dx, Device::CUDA);
  require_numel(op, "dv", dv, dx.dim(-1), "one per feature of dx");
  require_disjoint(op, "dv", dv, "dx", dx);
  const int64_t rows = dx.rows(), dim = dx.dim(-1);
  if (rows == 0 || dim == 0) return;
  const ColumnSums plan(rows, dim);
  auto* partials = static_cast<float*>(scratch(kReductionScratchSlot, plan.partial_count() * sizeof(float)));
  add_column_sums(dv.f32(), dx.f32(), rows, dim, 1.0f, partials, stream());
}

// ---- column tiling ------------------------------------------------------------------------------------------------

void CudaBackend::tile_columns_forward(const Tensor& out, const Tensor& x) {
  const char* op = "tile_columns_forward";
  require_f32(op, "out", out, Device::CUDA);
  require_f32(op, "x", x, Device::CUDA);
  const int64_t copies = tile_copies(op, "out", out, "x", x);
  const int64_t rows = x.rows(), width = x.dim(-1);
  if (rows == 0 || copies == 0) return;
  launch<tile_columns_forward_kernel>(tile_grid(rows, width * copies), tile_block(), 0, stream(), out.f32(), x.f32(),
                                      rows, width, copies);
}

void CudaBackend::tile_columns_backward(const Tensor& dx, const Tensor& dout) {
  const char* op = "tile_columns_backward";
  require_f32(op, "dx", dx, Device::CUDA);
  require_f32(op, "dout", dout, Device::CUDA);
  const int64_t copies = tile_copies(op, "dout", dout, "dx", dx);
  const int64_t rows = dx.rows(), width = dx.dim(-1);
  if (rows == 0) return;
  launch<tile_columns_backward_kernel>(tile_grid(rows, width), tile_block(), 0, stream(), dx.f32(), dout.f32(), rows,
                                       width, copies);
}

// ---- differential-attention λ ---------------------------------------------------------------------------------------

void CudaBackend::diff_lambda_forward(const Tensor& lambda, const Tensor& lq1, const Tensor& lk1, const Tensor& lq2,
                                      const Tensor& lk2, float lambda_init) {
  const char* op = "diff_lambda_forward";
  for (auto [name, t] : {std::pair{"lambda", &lambda}, {"lq1", &lq1}, {"lk1", &lk1}, {"lq2", &lq2}, {"lk2", &lk2}}) {
    require_f32(op, name, *t, Device::CUDA);
    require_numel(op, name, *t, lambda.numel(), "one per head");
  }
  const int64_t heads = lambda.numel();
  if (heads == 0) return;
  launch<diff_lambda_forward_kernel>(grid_for(heads), kThreads, 0, stream(), lambda.f32(), lq1.f32(), lk1.f32(),
                                     lq2.f32(), lk2.f32(), lambda_init, heads);
}

void CudaBackend::diff_lambda_backward(const Tensor& dlq1, const Tensor& dlk1, const Tensor& dlq2, const Tensor& dlk2,
                                       const Tensor& dlambda, const Tensor& lq1, const Tensor& lk1, const Tensor& lq2,
                                       const Tensor& lk2) {
  const char* op = "diff_lambda_backward";
  for (auto [name, t] : {std::pair{"dlq1", &dlq1}, {"dlk1", &dlk1}, {"dlq2", &dlq2}, {"dlk2", &dlk2},
                         {"dlambda", &dlambda}, {"lq1", &lq1}, {"lk1", &lk1}, {"lq2", &lq2}, {"lk2", &lk2}}) {
    require_f32(op, name, *t, Device::CUDA);
    require_numel(op, name, *t, dlambda.numel(), "one per head");
  }
  const int64_t heads = dlambda.numel();
  if (heads == 0) return;
  launch<diff_lambda_backward_kernel>(grid_for(heads), kThreads, 0, stream(), dlq1.f32(), dlk1.f32(), dlq2.f32(),
                                      dlk2.f32(), dlambda.f32(), lq1.f32(), lk1.f32(), lq2.f32(), lk2.f32(), heads);
}

// ---- differential combine ------------------------------------------------------------------------------------------

void CudaBackend::diff_combine_forward(const Tensor& out, const Tensor& a, const Tensor& lambda, bool interleaved) {
  const char* op = "diff_combine_forward";
  for (auto [name, t] : {std::pair{"out", &out}, {"a", &a}, {"lambda", &lambda}}) require_f32(op, name, *t, Device::CUDA);
  const DiffCombineShape s = diff_combine_shape(op, out, a, lambda, interleaved);
  require_disjoint(op, "out", out, "a", a);
  if (out.numel() == 0) return;
  launch<diff_combine_forward_kernel>(tile_grid(s.rows, s.heads * s.head_dim), tile_block(), 0, stream(), out.f32(),
                                      a.f32(), lambda.f32(), s);
}

void CudaBackend::diff_combine_backward(const Tensor& da, const Tensor& dlambda, const Tensor& dout, const Tensor& a,
                                        const Tensor& lambda, bool interleaved) {
  const char* op = "diff_combine_backward";
  for (auto [name, t] : {std::pair{"da", &da}, {"dlambda", &dlambda}, {"dout", &dout}, {"a", &a}, {"lambda", &lambda}})
    require_f32(op, name, *t, Device::CUDA);
  const DiffCombineShape s = diff_combine_shape(op, dout, a, lambda, interleaved);
  require_same_shape(op, "da", da, "a", a);
  require_same_numel(op, "dlambda", dlambda, "lambda", lambda);
  require_disjoint(op, "da", da, "dout", dout);
  require_disjoint(op, "da", da, "dlambda", dlambda);
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
