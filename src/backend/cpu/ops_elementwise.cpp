#include "backend/cpu/ops_elementwise.h"

#include <algorithm>
#include <cmath>

#include "backend/cpu/parallel.h"

namespace dg::cpu {

template <class Real>
void axpy(Real* y, Real alpha, const Real* x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMinElements)
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

template <class Real>
void scale(Real* x, Real alpha, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMinElements)
  for (int64_t i = 0; i < n; ++i) x[i] *= alpha;
}

template <class Real>
void fill(Real* x, Real value, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMinElements)
  for (int64_t i = 0; i < n; ++i) x[i] = value;
}

template <class Real>
double sum_squares(const Real* x, int64_t n) {
  double total = 0.0;
#pragma omp parallel for simd schedule(static) reduction(+ : total) if (n > kParallelMinElements)
  for (int64_t i = 0; i < n; ++i) total += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  return total;
}

// relu(x) = (x + |x|)/2, exact for every x below FLT_MAX/2 (beyond it x² overflows anyway). A
// select `x > 0 ? x : 0` would be the obvious spelling, but under the default -ftrapping-math GCC
// compiles it to a branch that random signs mispredict half the time, and does not vectorise it.
template <class Real>
inline Real relu(Real x) {
  return Real(0.5) * (x + std::abs(x));
}

template <class Real>
void relu2_forward(Real* out, const Real* x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMinElements)
  for (int64_t i = 0; i < n; ++i) {
    const Real r = relu(x[i]);
    out[i] = r * r;
  }
}

template <class Real>
void relu2_backward(Real* dx, const Real* dout, const Real* x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMinElements)
  for (int64_t i = 0; i < n; ++i) dx[i] += Real(2) * relu(x[i]) * dout[i];
}

template <class Real>
void resid_mix_forward(Real* out, const Real* x, const Real* x0, const Real* mix, int64_t rows, int64_t dim) {
  const Real* m0 = mix;
  const Real* m1 = mix + dim;
#pragma omp parallel for schedule(static) if (rows * dim > kParallelMinElements)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t base = r * dim;
#pragma omp simd
    for (int64_t c = 0; c < dim; ++c) out[base + c] = m0[c] * x[base + c] + m1[c] * x0[base + c];
  }
}

template <class Real>
void resid_mix_backward(Real* dx, Real* dx0, Real* dmix, const Real* dout, const Real* x, const Real* x0,
                        const Real* mix, int64_t rows, int64_t dim) {
  const int64_t blocks = (dim + kColumnBlock - 1) / kColumnBlock;
  // Column blocks: each task owns dmix[:, block] for all rows, so the row sums need no atomics.
#pragma omp parallel for schedule(static) if (rows * dim > kParallelMinElements)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t c0 = blk * kColumnBlock, c1 = std::min(dim, c0 + kColumnBlock);
    Real sum0[kColumnBlock] = {}, sum1[kColumnBlock] = {};
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t base = r * dim;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) {
        const Real g = dout[base + c];
        dx[base + c] += mix[c] * g;
        dx0[base + c] += mix[dim + c] * g;
        sum0[c - c0] += g * x[base + c];
        sum1[c - c0] += g * x0[base + c];
      }
    }
    for (int64_t c = c0; c < c1; ++c) {
      dmix[c] += sum0[c - c0];
      dmix[dim + c] += sum1[c - c0];
    }
  }
}

template <class Real>
void add_scaled_forward(Real* x, const Real* s, const Real* y, int64_t rows, int64_t dim) {
#pragma omp parallel for schedule(static) if (rows * dim > kParallelMinElements)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t base = r * dim;
#pragma omp simd
    for (int64_t c = 0; c < dim; ++c) x[base + c] += s[c] * y[base + c];
  }
}

template <class Real>
void add_scaled_backward(Real* dy, Real* ds, const Real* dx, const Real* s, const Real* y, int64_t rows,
                         int64_t dim) {
  const int64_t blocks = (dim + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static) if (rows * dim > kParallelMinElements)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t c0 = blk * kColumnBlock, c1 = std::min(dim, c0 + kColumnBlock);
    Real sum[kColumnBlock] = {};
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t base = r * dim;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) {
        dy[base + c] += s[c] * dx[base + c];
        sum[c - c0] += dx[base + c] * y[base + c];
      }
    }
    for (int64_t c = c0; c < c1; ++c) ds[c] += sum[c - c0];
  }
}

template <class Real>
void head_scale_forward(Real* out, const Real* x, const Real* gain, int64_t rows, int64_t heads, int64_t head_dim) {
  const int64_t count = rows * heads;
#pragma omp parallel for schedule(static) if (count * head_dim > kParallelMinElements)
  for (int64_t rh = 0; rh < count; ++rh) {
    const Real g = gain[rh % heads];
    const int64_t base = rh * head_dim;
#pragma omp simd
    for (int64_t d = 0; d < head_dim; ++d) out[base + d] = x[base + d] * g;
  }
}

template <class Real>
void head_scale_backward(Real* dx, Real* dgain, const Real* dout, const Real* x, const Real* gain, int64_t rows,
                         int64_t heads, int64_t head_dim) {
  const int64_t count = rows * heads;
  const bool parallel = count * head_dim > kParallelMinElements;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t rh = 0; rh < count; ++rh) {
    const Real g = gain[rh % heads];
    const int64_t base = rh * head_dim;
#pragma omp simd
    for (int64_t d = 0; d < head_dim; ++d) dx[base + d] += dout[base + d] * g;
  }
  // One task per head: each owns its dgain entry, summed in a fixed order.
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t h = 0; h < heads; ++h) {
    Real total = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t base = (r * heads + h) * head_dim;
      Real partial = 0;
#pragma omp simd reduction(+ : partial)
      for (int64_t d = 0; d < head_dim; ++d) partial += dout[base + d] * x[base + d];
      total += partial;
    }
    dgain[h] += total;
  }
}

template <class Real>
void embedding_forward(Real* out, const Real* table, const int32_t* ids, int64_t count, int64_t dim) {
#pragma omp parallel for schedule(static) if (count * dim > kParallelMinElements)
  for (int64_t n = 0; n < count; ++n) std::copy_n(table + static_cast<int64_t>(ids[n]) * dim, dim, out + n * dim);
}

template <class Real>
void embedding_backward(Real* dtable, const Real* dout, const int32_t* ids, int64_t count, int64_t dim) {
  // Repeated ids write the same table row, so split the work by columns, not by tokens.
  const int64_t blocks = (dim + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static) if (count * dim > kParallelMinElements)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t c0 = blk * kColumnBlock, c1 = std::min(dim, c0 + kColumnBlock);
    for (int64_t n = 0; n < count; ++n) {
      Real* row = dtable + static_cast<int64_t>(ids[n]) * dim;
      const Real* g = dout + n * dim;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) row[c] += g[c];
    }
  }
}

#define DG_INSTANTIATE_ELEMENTWISE(Real)                                                                        \
  template void axpy<Real>(Real*, Real, const Real*, int64_t);                                                 \
  template void scale<Real>(Real*, Real, int64_t);                                                             \
  template void fill<Real>(Real*, Real, int64_t);                                                              \
  template double sum_squares<Real>(const Real*, int64_t);                                                     \
  template void relu2_forward<Real>(Real*, const Real*, int64_t);                                              \
  template void relu2_backward<Real>(Real*, const Real*, const Real*, int64_t);                                \
  template void resid_mix_forward<Real>(Real*, const Real*, const Real*, const Real*, int64_t, int64_t);       \
  template void resid_mix_backward<Real>(Real*, Real*, Real*, const Real*, const Real*, const Real*,           \
                                         const Real*, int64_t, int64_t);                                       \
  template void add_scaled_forward<Real>(Real*, const Real*, const Real*, int64_t, int64_t);                   \
  template void add_scaled_backward<Real>(Real*, Real*, const Real*, const Real*, const Real*, int64_t,        \
                                          int64_t);                                                            \
  template void head_scale_forward<Real>(Real*, const Real*, const Real*, int64_t, int64_t, int64_t);          \
  template void head_scale_backward<Real>(Real*, Real*, const Real*, const Real*, const Real*, int64_t,        \
                                          int64_t, int64_t);                                                   \
  template void embedding_forward<Real>(Real*, const Real*, const int32_t*, int64_t, int64_t);                 \
  template void embedding_backward<Real>(Real*, const Real*, const int32_t*, int64_t, int64_t);

DG_INSTANTIATE_ELEMENTWISE(float)
DG_INSTANTIATE_ELEMENTWISE(double)

}  // namespace dg::cpu
