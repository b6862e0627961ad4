// Elementwise and per-feature kernels of the CPU backend, templated on the scalar type: the float
// instantiations serve CpuBackend, the double ones the gradient-check tests. Pointers are contiguous
// row-major buffers; shapes were validated by the caller. Backward kernels ADD into gradients.
#pragma once

#include <cstdint>

namespace dg::cpu {

template <class Real> void axpy(Real* y, Real alpha, const Real* x, int64_t n);
template <class Real> void scale(Real* x, Real alpha, int64_t n);
template <class Real> void fill(Real* x, Real value, int64_t n);
// Σ x² accumulated in double.
template <class Real> double sum_squares(const Real* x, int64_t n);

// out = relu(x)²
template <class Real> void relu2_forward(Real* out, const Real* x, int64_t n);
template <class Real> void relu2_backward(Real* dx, const Real* dout, const Real* x, int64_t n);

// out = mix[0,:] ⊙ x + mix[1,:] ⊙ x0 for x, x0 [rows, dim], mix [2, dim]
template <class Real>
void resid_mix_forward(Real* out, const Real* x, const Real* x0, const Real* mix, int64_t rows, int64_t dim);
template <class Real>
void resid_mix_backward(Real* dx, Real* dx0, Real* dmix, const Real* dout, const Real* x, const Real* x0,
                        const Real* mix, int64_t rows, int64_t dim);

// x += s ⊙ y in place for x, y [rows, dim], s [dim]; backward: dy += s ⊙ dx, ds += Σ_rows dx ⊙ y.
template <class Real> void add_scaled_forward(Real* x, const Real* s, const Real* y, int64_t rows, int64_t dim);
template <class Real>
void add_scaled_backward(Real* dy, Real* ds, const Real* dx, const Real* s, const Real* y, int64_t rows, int64_t dim);

// out[r, h, :] = x[r, h, :] · gain[h] for x [rows, heads, head_dim]
template <class Real>
void head_scale_forward(Real* out, const Real* x, const Real* gain, int64_t rows, int64_t heads, int64_t head_dim);
template <class Real>
void head_scale_backward(Real* dx, Real* dgain, const Real* dout, const Real* x, const Real* gain, int64_t rows,
                         int64_t heads, int64_t head_dim);

// out[n, :] = table[ids[n], :]; ids must lie in [0, vocab) (checked by the caller).
template <class Real>
void embedding_forward(Real* out, const Real* table, const int32_t* ids, int64_t count, int64_t dim);
template <class Real>
void embedding_backward(Real* dtable, const Real* dout, const int32_t* ids, int64_t count, int64_t dim);

}  // namespace dg::cpu
