// RMSNorm over the last dimension without a weight, as torch's F.rms_norm:
// out = x · rstd with rstd = 1/sqrt(mean(x²) + eps), saved per row for the backward.
#pragma once

#include <cstdint>

namespace dg::cpu {

template <class Real>
void rmsnorm_forward(Real* out, Real* rstd, const Real* x, int64_t rows, int64_t dim, Real eps);

// dx += rstd·dout − x·rstd³·mean(dout ⊙ x)
template <class Real>
void rmsnorm_backward(Real* dx, const Real* dout, const Real* x, const Real* rstd, int64_t rows, int64_t dim);

}  // namespace dg::cpu
