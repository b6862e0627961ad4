// The CPU kernels of the pluggable block ops (backend.h, "Pluggable block ops"; docs/blocks.md),
// templated on the scalar type: the float instantiations serve CpuBackend, the double ones the
// gradient-check tests. Pointers are contiguous row-major buffers whose shapes the caller
// validated; backward kernels ADD into gradients. Reductions over rows are split into fixed row
// chunks (or column blocks) summed in a fixed order, so results never depend on the thread count.
#pragma once

#include <cstdint>

#include "backend/op_shapes.h"

namespace dg::cpu {

// features [rows, (n+1)·k] = [s_0 | ... | s_{n−1} | Σ_{i<j} |s_i − s_j|] from streams [n, rows, k].
template <class Real>
void tau_features_forward(Real* features, const Real* streams, int64_t n, int64_t rows, int64_t k);
// dstreams[i] += dfeatures[:, i·k:(i+1)·k] + Σ_{j≠i} sign(s_i − s_j)·dfeatures[:, n·k:] (sign(0) = 0).
template <class Real>
void tau_features_backward(Real* dstreams, const Real* dfeatures, const Real* streams, int64_t n, int64_t rows,
                           int64_t k);

// out = x·Φ(x) = x/2·(1 + erf(x/√2)); backward dx += dout·(Φ(x) + x·φ(x)).
template <class Real> void gelu_forward(Real* out, const Real* x, int64_t n);
template <class Real> void gelu_backward(Real* dx, const Real* dout, const Real* x, int64_t n);

// x += (gate ⊙ s) ⊙ y for x, gate, y [rows, dim], s [dim].
template <class Real>
void gated_add_forward(Real* x, const Real* gate, const Real* s, const Real* y, int64_t rows, int64_t dim);
// dy += gate·s·dx, dgate += s·y·dx, ds += Σ_rows gate·y·dx.
template <class Real>
void gated_add_backward(Real* dy, Real* dgate, Real* ds, const Real* dx, const Real* gate, const Real* s,
                        const Real* y, int64_t rows, int64_t dim);

using dg::DaamShape;

// See backend.h: mean and rstd [rows, groups] are written; mix [groups, N] logits or nullptr (N = 1).
template <class Real>
void daam_gate_forward(Real* out, Real* mean, Real* rstd, const Real* x, const Real* offset, const Real* scale,
                       const Real* mix, Real eps, bool residual, const DaamShape& shape);
template <class Real>
void daam_gate_backward(Real* dx, Real* doffset, Real* dscale, Real* dmix, const Real* dout, const Real* x,
                        const Real* mean, const Real* rstd, const Real* offset, const Real* scale, const Real* mix,
                        bool residual, const DaamShape& shape);
// density [rows, groups] = mean of the gate over each group's features.
template <class Real>
void daam_density_forward(Real* density, const Real* x, const Real* mean, const Real* rstd, const Real* offset,
                          const Real* scale, const Real* mix, const DaamShape& shape);

// out[r, h, :] = x[r, h, :]·gain·gate[r, h] for x [rows, heads, head_dim], gate [rows, heads].
template <class Real>
void head_gate_forward(Real* out, const Real* x, const Real* gate, Real gain, int64_t rows, int64_t heads,
                       int64_t head_dim);
template <class Real>
void head_gate_backward(Real* dx, Real* dgate, const Real* dout, const Real* x, const Real* gate, Real gain,
                        int64_t rows, int64_t heads, int64_t head_dim);

}  // namespace dg::cpu
