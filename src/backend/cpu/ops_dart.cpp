#include "backend/cpu/ops_dart.h"

#include <algorithm>
#include <cmath>

#include "backend/cpu/parallel.h"

namespace dg::cpu {

template <class Real>
void memory_concat_forward(Real* x, const Real* memory, const Real* tok, int64_t batch, int64_t mem, int64_t tok_rows,
                           int64_t dim) {
  const int64_t seq = mem + tok_rows;
#pragma omp parallel for schedule(static) if (batch * seq * dim > kParallelMinElements)
  for (int64_t b = 0; b < batch; ++b) {
    Real* dst = x + b * seq * dim;
    std::copy_n(memory, mem * dim, dst);
    std::copy_n(tok + b * tok_rows * dim, tok_rows * dim, dst + mem * dim);
  }
}

template <class Real>
void memory_concat_backward(Real* dmemory, Real* dtok, const Real* dx, int64_t batch, int64_t mem, int64_t tok_rows,
                            int64_t dim) {
  const int64_t seq = mem + tok_rows;
  const bool parallel = batch * seq * dim > kParallelMinElements;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t b = 0; b < batch; ++b) {
    const Real* src = dx + (b * seq + mem) * dim;
    Real* dst = dtok + b * tok_rows * dim;
#pragma omp simd
    for (int64_t i = 0; i < tok_rows * dim; ++i) dst[i] += src[i];
  }
  // Each memory element is summed over the batch by one task, in batch order.
  const int64_t count = mem * dim;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t i = 0; i < count; ++i) {
    Real total = 0;
    for (int64_t b = 0; b < batch; ++b) total += dx[b * seq * dim + i];
    dmemory[i] += total;
  }
}

template <class Real>
void token_rows_forward(Real* out, const Real* x, int64_t batch, int64_t seq, int64_t tok_rows, int64_t dim) {
  const int64_t skip = seq - tok_rows;
#pragma omp parallel for schedule(static) if (batch * tok_rows * dim > kParallelMinElements)
  for (int64_t b = 0; b < batch; ++b) std::copy_n(x + (b * seq + skip) * dim, tok_rows * dim, out + b * tok_rows * dim);
}

template <class Real>
void token_rows_backward(Real* dx, const Real* dout, int64_t batch, int64_t seq, int64_t tok_rows, int64_t dim) {
  const int64_t skip = seq - tok_rows;
#pragma omp parallel for schedule(static) if (batch * tok_rows * dim > kParallelMinElements)
  for (int64_t b = 0; b < batch; ++b) {
    Real* dst = dx + (b * seq + skip) * dim;
    const Real* src = dout + b * tok_rows * dim;
#pragma omp simd
    for (int64_t i = 0; i < tok_rows * dim; ++i) dst[i] += src[i];
  }
}

template <class Real>
void add_vector_forward(Real* x, const Real* v, int64_t rows, int64_t dim) {
#pragma omp parallel for schedule(static) if (rows * dim > kParallelMinElements)
  for (int64_t r = 0; r < rows; ++r) {
    Real* row = x + r * dim;
#pragma omp simd
    for (int64_t c = 0; c < dim; ++c) row[c] += v[c];
  }
}

template <class Real>
void add_vector_backward(Real* dv, const Real* dx, int64_t rows, int64_t dim) {
  const int64_t blocks = (dim + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static) if (rows * dim > kParallelMinElements)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t c0 = blk * kColumnBlock, c1 = std::min(dim, c0 + kColumnBlock);
    Real sum[kColumnBlock] = {};
    for (int64_t r = 0; r < rows; ++r) {
      const Real* row = dx + r * dim;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) sum[c - c0] += row[c];
    }
    for (int64_t c = c0; c < c1; ++c) dv[c] += sum[c - c0];
  }
}

template <class Real>
void tile_columns_forward(Real* out, const Real* x, int64_t rows, int64_t width, int64_t copies) {
#pragma omp parallel for schedule(static) if (rows * width * copies > kParallelMinElements)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < copies; ++k) std::copy_n(x + r * width, width, out + (r * copies + k) * width);
}

template <class Real>
void tile_columns_backward(Real* dx, const Real* dout, int64_t rows, int64_t width, int64_t copies) {
#pragma omp parallel for schedule(static) if (rows * width * copies > kParallelMinElements)
  for (int64_t r = 0; r < rows; ++r) {
    Real* dst = dx + r * width;
    for (int64_t k = 0; k < copies; ++k) {
      const Real* src = dout + (r * copies + k) * width;
#pragma omp simd
      for (int64_t c = 0; c < width; ++c) dst[c] += src[c];
    }
  }
}

template <class Real>
void diff_lambda_forward(Real* lambda, const Real* lq1, const Real* lk1, const Real* lq2, const Real* lk2,
                         Real lambda_init, int64_t heads) {
  // exp(a)·exp(b), not exp(a + b): the PR's evaluation order (they differ in the last bit).
  for (int64_t h = 0; h < heads; ++h)
    lambda[h] = std::exp(lq1[h]) * std::exp(lk1[h]) - std::exp(lq2[h]) * std::exp(lk2[h]) + lambda_init;
}

template <class Real>
void diff_lambda_backward(Real* dlq1, Real* dlk1, Real* dlq2, Real* dlk2, const Real* dlambda, const Real* lq1,
                          const Real* lk1, const Real* lq2, const Real* lk2, int64_t heads) {
  for (int64_t h = 0; h < heads; ++h) {
    const Real first = std::exp(lq1[h]) * std::exp(lk1[h]);
    const Real second = std::exp(lq2[h]) * std::exp(lk2[h]);
    dlq1[h] += dlambda[h] * first;
    dlk1[h] += dlambda[h] * first;
    dlq2[h] -= dlambda[h] * second;
    dlk2[h] -= dlambda[h] * second;
  }
}

template <class Real>
void sigmoid_forward(Real* out, const Real* x, int64_t n) {
#pragma omp parallel for schedule(static) if (n > kParallelMinElements)
  for (int64_t i = 0; i < n; ++i) out[i] = Real(1) / (Real(1) + std::exp(-x[i]));
}

template <class Real>
void sigmoid_backward(Real* dx, const Real* dout, const Real* out, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMinElements)
  for (int64_t i = 0; i < n; ++i) dx[i] += dout[i] * out[i] * (Real(1) - out[i]);
}

namespace {
// Offsets (in heads) of output head i's pair inside a row of a [2H, hd].
inline int64_t first_of_pair(int64_t i, int64_t heads, bool interleaved) { return interleaved ? 2 * i : i; }
inline int64_t second_of_pair(int64_t i, int64_t heads, bool interleaved) { return interleaved ? 2 * i + 1 : heads + i; }
}  // namespace

template <class Real>
void diff_combine_forward(Real* out, const Real* a, const Real* lambda, const DiffCombineShape& s) {
  const int64_t H = s.heads, hd = s.head_dim;
#pragma omp parallel for schedule(static) if (s.rows * H * hd > kParallelMinElements)
  for (int64_t r = 0; r < s.rows; ++r) {
    for (int64_t i = 0; i < H; ++i) {
      const Real lam = s.per_row_lambda ? lambda[r * H + i] : lambda[i];
      const Real* a1 = a + (r * 2 * H + first_of_pair(i, H, s.interleaved)) * hd;
      const Real* a2 = a + (r * 2 * H + second_of_pair(i, H, s.interleaved)) * hd;
      Real* o = out + (r * H + i) * hd;
#pragma omp simd
      for (int64_t d = 0; d < hd; ++d) o[d] = a1[d] - lam * a2[d];
    }
  }
}

template <class Real>
void diff_combine_backward(Real* da, Real* dlambda, const Real* dout, const Real* a, const Real* lambda,
                           const DiffCombineShape& s) {
  const int64_t H = s.heads, hd = s.head_dim;
  const bool parallel = s.rows * H * hd > kParallelMinElements;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t r = 0; r < s.rows; ++r) {
    for (int64_t i = 0; i < H; ++i) {
      const Real lam = s.per_row_lambda ? lambda[r * H + i] : lambda[i];
      const int64_t off1 = (r * 2 * H + first_of_pair(i, H, s.interleaved)) * hd;
      const int64_t off2 = (r * 2 * H + second_of_pair(i, H, s.interleaved)) * hd;
      const Real* g = dout + (r * H + i) * hd;
      Real dot = 0;
#pragma omp simd reduction(+ : dot)
      for (int64_t d = 0; d < hd; ++d) {
        da[off1 + d] += g[d];
        da[off2 + d] -= lam * g[d];
        dot += a[off2 + d] * g[d];
      }
      if (s.per_row_lambda) dlambda[r * H + i] -= dot;
    }
  }
  if (s.per_row_lambda) return;
  // One λ per head: each head's sum over rows belongs to one task, in row order.
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t i = 0; i < H; ++i) {
    Real total = 0;
    for (int64_t r = 0; r < s.rows; ++r) {
      const Real* a2 = a + (r * 2 * H + second_of_pair(i, H, s.interleaved)) * hd;
      const Real* g = dout + (r * H + i) * hd;
      Real dot = 0;
#pragma omp simd reduction(+ : dot)
      for (int64_t d = 0; d < hd; ++d) dot += a2[d] * g[d];
      total += dot;
    }
    dlambda[i] -= total;
  }
}

namespace {
// torch 1.13's scalar lerp: start + w·(end − start) when |w| < 0.5, else end − (end − start)·(1 − w),
// each product and difference rounded in Real.
template <class Real>
Real torch_lerp(Real start, Real end, Real weight) {
  if (std::abs(weight) < Real(0.5)) {
    const Real step = weight * (end - start);
    return start + step;
  }
  const Real step = (end - start) * (Real(1) - weight);
  return end - step;
}
}  // namespace

template <class Real>
Real quantile_abs(const Real* row, int64_t n, double q, Real* scratch) {
  for (int64_t i = 0; i < n; ++i) scratch[i] = std::abs(row[i]);
  // torch turns q into a tensor of the input's dtype and multiplies by (n − 1) in that dtype.
  const Real rank = static_cast<Real>(q) * static_cast<Real>(n - 1);
  const auto below = static_cast<int64_t>(rank);
  const auto above = static_cast<int64_t>(std::ceil(rank));
  const Real weight = rank - static_cast<Real>(below);
  Real* nth = scratch + below;
  std::nth_element(scratch, nth, scratch + n);
  const Real low = *nth;
  const Real high = above == below ? low : *std::min_element(nth + 1, scratch + n);
  return torch_lerp(low, high, weight);
}

template <class Real>
void fake_quant_rows_forward(Real* out, const Real* w, int64_t rows, int64_t cols) {
  constexpr double kClipQuantile = 99.99984 / 100.0;  // the PR's INT8_CLIP_Q
  constexpr Real kLevels = 127;
  // (clip / 127.0).clamp_min(1.0 / 127.0): the double bound becomes a Real scalar.
  const Real scale_floor = static_cast<Real>(1.0 / 127.0);
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMinElements)
  for (int64_t r = 0; r < rows; ++r) {
    Real* scratch = thread_scratch<Real>(cols);
    const Real* src = w + r * cols;
    Real* dst = out + r * cols;
    const Real clip = quantile_abs(src, cols, kClipQuantile, scratch);
    const Real scale = std::max(clip / kLevels, scale_floor);
    for (int64_t c = 0; c < cols; ++c) {
      const Real value = src[c];
      const Real clipped = std::max(std::min(value, clip), -clip);
      const Real level = std::clamp(std::nearbyint(clipped / scale), -kLevels, kLevels);  // half to even
      const Real quantized = level * scale;
      dst[c] = value + (quantized - value);  // w + (wq − w).detach(), rounded as the PR rounds it
    }
  }
}

#define DG_INSTANTIATE_DART(Real)                                                                                 \
  template void memory_concat_forward<Real>(Real*, const Real*, const Real*, int64_t, int64_t, int64_t, int64_t); \
  template void memory_concat_backward<Real>(Real*, Real*, const Real*, int64_t, int64_t, int64_t, int64_t);      \
  template void token_rows_forward<Real>(Real*, const Real*, int64_t, int64_t, int64_t, int64_t);                 \
  template void token_rows_backward<Real>(Real*, const Real*, int64_t, int64_t, int64_t, int64_t);                \
  template void add_vector_forward<Real>(Real*, const Real*, int64_t, int64_t);                                   \
  template void add_vector_backward<Real>(Real*, const Real*, int64_t, int64_t);                                  \
  template void tile_columns_forward<Real>(Real*, const Real*, int64_t, int64_t, int64_t);                        \
  template void tile_columns_backward<Real>(Real*, const Real*, int64_t, int64_t, int64_t);                       \
  template void diff_lambda_forward<Real>(Real*, const Real*, const Real*, const Real*, const Real*, Real,        \
                                          int64_t);                                                               \
  template void diff_lambda_backward<Real>(Real*, Real*, Real*, Real*, const Real*, const Real*, const Real*,     \
                                           const Real*, const Real*, int64_t);                                    \
  template void sigmoid_forward<Real>(Real*, const Real*, int64_t);                                               \
  template void sigmoid_backward<Real>(Real*, const Real*, const Real*, int64_t);                                 \
  template void diff_combine_forward<Real>(Real*, const Real*, const Real*, const DiffCombineShape&);            \
  template void diff_combine_backward<Real>(Real*, Real*, const Real*, const Real*, const Real*,                  \
                                            const DiffCombineShape&);                                             \
  template Real quantile_abs<Real>(const Real*, int64_t, double, Real*);                                          \
  template void fake_quant_rows_forward<Real>(Real*, const Real*, int64_t, int64_t);

DG_INSTANTIATE_DART(float)
DG_INSTANTIATE_DART(double)

}  // namespace dg::cpu
