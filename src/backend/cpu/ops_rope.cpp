#include "backend/cpu/ops_rope.h"

#include <cmath>

#include "backend/cpu/parallel.h"

namespace dg::cpu {

template <class Real>
void rope_tables(Real* cos_table, Real* sin_table, int64_t positions, int64_t head_dim, Real base) {
  const int64_t half = head_dim / 2;
#pragma omp parallel for schedule(static) if (positions * half > kParallelMinElements)
  for (int64_t p = 0; p < positions; ++p) {
    for (int64_t i = 0; i < half; ++i) {
      const Real exponent = static_cast<Real>(2 * i) / static_cast<Real>(head_dim);
      const Real inv_freq = Real(1) / std::pow(base, exponent);
      const Real angle = static_cast<Real>(p) * inv_freq;
      cos_table[p * half + i] = std::cos(angle);
      sin_table[p * half + i] = std::sin(angle);
    }
  }
}

template <class Real>
void rope_apply(Real* x, const Real* cos_table, const Real* sin_table, int64_t batch, int64_t seq, int64_t heads,
                int64_t head_dim, int64_t start, bool inverse) {
  const int64_t half = head_dim / 2;
  const int64_t rotated = seq - start;
  if (rotated <= 0) return;
  // The transposed rotation is the same one with sin negated.
  const Real sign = inverse ? Real(-1) : Real(1);
  const int64_t count = batch * rotated;
#pragma omp parallel for schedule(static) if (count * heads * head_dim > kParallelMinElements)
  for (int64_t bt = 0; bt < count; ++bt) {
    const int64_t b = bt / rotated, p = bt % rotated;
    const Real* c = cos_table + p * half;
    const Real* s = sin_table + p * half;
    Real* row = x + ((b * seq + start + p) * heads) * head_dim;
    for (int64_t h = 0; h < heads; ++h) {
      Real* x1 = row + h * head_dim;
      Real* x2 = x1 + half;
#pragma omp simd
      for (int64_t i = 0; i < half; ++i) {
        const Real a = x1[i], b2 = x2[i], sn = sign * s[i];
        x1[i] = a * c[i] + b2 * sn;
        x2[i] = b2 * c[i] - a * sn;
      }
    }
  }
}

template void rope_tables<float>(float*, float*, int64_t, int64_t, float);
template void rope_tables<double>(double*, double*, int64_t, int64_t, double);
template void rope_apply<float>(float*, const float*, const float*, int64_t, int64_t, int64_t, int64_t, int64_t, bool);
template void rope_apply<double>(double*, const double*, const double*, int64_t, int64_t, int64_t, int64_t, int64_t,
                                 bool);

}  // namespace dg::cpu
