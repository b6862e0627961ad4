#include "backend/cpu/ops_norm.h"

#include <cmath>
#include <limits>

#include "backend/cpu/parallel.h"

namespace dg::cpu {

template <class Real>
void rmsnorm_forward(Real* out, Real* rstd, const Real* x, int64_t rows, int64_t dim, Real eps) {
#pragma omp parallel for schedule(static) if (rows * dim > kParallelMinElements)
  for (int64_t r = 0; r < rows; ++r) {
    const Real* xr = x + r * dim;
    Real sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < dim; ++c) sum += xr[c] * xr[c];
    // A row so large that its squares overflow is a diverged run: NaN says so (torch's rsqrt(inf)
    // gives 0 instead, so the row silently becomes zeros and the logits uniform).
    const Real inv = std::isfinite(sum) ? Real(1) / std::sqrt(sum / static_cast<Real>(dim) + eps)
                                        : std::numeric_limits<Real>::quiet_NaN();
    rstd[r] = inv;
    Real* outr = out + r * dim;
#pragma omp simd
    for (int64_t c = 0; c < dim; ++c) outr[c] = xr[c] * inv;
  }
}

template <class Real>
void rmsnorm_backward(Real* dx, const Real* dout, const Real* x, const Real* rstd, int64_t rows, int64_t dim) {
#pragma omp parallel for schedule(static) if (rows * dim > kParallelMinElements)
  for (int64_t r = 0; r < rows; ++r) {
    const Real* xr = x + r * dim;
    const Real* gr = dout + r * dim;
    Real dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int64_t c = 0; c < dim; ++c) dot += gr[c] * xr[c];
    const Real inv = rstd[r];
    const Real coeff = inv * inv * inv * dot / static_cast<Real>(dim);
    Real* dxr = dx + r * dim;
#pragma omp simd
    for (int64_t c = 0; c < dim; ++c) dxr[c] += inv * gr[c] - coeff * xr[c];
  }
}

template void rmsnorm_forward<float>(float*, float*, const float*, int64_t, int64_t, float);
template void rmsnorm_forward<double>(double*, double*, const double*, int64_t, int64_t, double);
template void rmsnorm_backward<float>(float*, const float*, const float*, const float*, int64_t, int64_t);
template void rmsnorm_backward<double>(double*, const double*, const double*, const double*, int64_t, int64_t);

}  // namespace dg::cpu
