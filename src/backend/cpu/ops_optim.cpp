#include "backend/cpu/ops_optim.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "backend/cpu/ops_elementwise.h"
#include "backend/cpu/ops_matmul.h"
#include "backend/cpu/parallel.h"

namespace dg::cpu {

template <class Real>
void adam_update(Real* param, const Real* grad, Real* m, Real* v, int64_t n, double lr, double beta1, double beta2,
                 double eps, int64_t step) {
  // Scalars as torch computes them (in double on the host), then applied in the tensor's precision.
  const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  const Real step_size = static_cast<Real>(lr / bias_correction1);
  const Real bias_correction2_sqrt = static_cast<Real>(std::sqrt(bias_correction2));
  const Real b1 = static_cast<Real>(beta1), b2 = static_cast<Real>(beta2), epsilon = static_cast<Real>(eps);
  const Real one_minus_b1 = static_cast<Real>(1.0 - beta1), one_minus_b2 = static_cast<Real>(1.0 - beta2);
#pragma omp parallel for simd schedule(static) if (n > kParallelMinElements)
  for (int64_t i = 0; i < n; ++i) {
    const Real g = grad[i];
    const Real mi = b1 * m[i] + one_minus_b1 * g;
    const Real vi = b2 * v[i] + one_minus_b2 * g * g;
    m[i] = mi;
    v[i] = vi;
    const Real denom = std::sqrt(vi) / bias_correction2_sqrt + epsilon;
    param[i] -= step_size * mi / denom;
  }
}

template <class Real>
void newton_schulz(Real* out, const Real* g, int64_t rows, int64_t cols, int steps, Real* workspace) {
  const bool transposed = rows > cols;
  const int64_t r = transposed ? cols : rows;  // X is [r, c] with r ≤ c
  const int64_t c = transposed ? rows : cols;
  Real* x = workspace;
  Real* x_next = x + r * c;
  Real* gram = x_next + r * c;  // A = X·Xᵀ [r, r]
  Real* poly = gram + r * r;    // B = b·A + c·A·A [r, r]

  const Real denom = static_cast<Real>(std::sqrt(sum_squares(g, rows * cols))) + static_cast<Real>(kNewtonSchulzEps);
  if (transposed) {
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMinElements)
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < c; ++j) x[i * c + j] = g[j * cols + i] / denom;
  } else {
#pragma omp parallel for simd schedule(static) if (rows * cols > kParallelMinElements)
    for (int64_t i = 0; i < r * c; ++i) x[i] = g[i] / denom;
  }

  const Real a = static_cast<Real>(kNewtonSchulzA), b = static_cast<Real>(kNewtonSchulzB),
             cc = static_cast<Real>(kNewtonSchulzC);
  for (int s = 0; s < steps; ++s) {
    gemm<Real>(gram, x, false, x, true, r, r, c, Real(1), Real(0));
    gemm<Real>(poly, gram, false, gram, false, r, r, r, cc, Real(0));
    axpy<Real>(poly, b, gram, r * r);
    // x_next = a·X, then x_next += B·X
#pragma omp parallel for simd schedule(static) if (r * c > kParallelMinElements)
    for (int64_t i = 0; i < r * c; ++i) x_next[i] = a * x[i];
    gemm<Real>(x_next, poly, false, x, false, r, c, r, Real(1), Real(1));
    std::swap(x, x_next);
  }

  if (transposed) {
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMinElements)
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) out[i * cols + j] = x[j * c + i];
  } else {
    std::copy_n(x, rows * cols, out);
  }
}

template void adam_update<float>(float*, const float*, float*, float*, int64_t, double, double, double, double,
                                 int64_t);
template void adam_update<double>(double*, const double*, double*, double*, int64_t, double, double, double, double,
                                  int64_t);
template void newton_schulz<float>(float*, const float*, int64_t, int64_t, int, float*);
template void newton_schulz<double>(double*, const double*, int64_t, int64_t, int, double*);

}  // namespace dg::cpu
