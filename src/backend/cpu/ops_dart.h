// The CPU kernels of DART's ops (backend.h, "DART ops"), templated on the scalar type: the float
// instantiations serve CpuBackend, the double ones the gradient-check tests. Pointers are
// contiguous row-major buffers whose shapes the caller validated; backward kernels ADD into
// gradients. Every reduction is split so that each output element is summed by one task in a fixed
// order: results never depend on the thread count.
#pragma once

#include <cstdint>

#include "backend/op_shapes.h"

namespace dg::cpu {

// x [batch, mem + tok, dim] = [memory [mem, dim] ; tok [batch, tok, dim]] per sequence.
template <class Real>
void memory_concat_forward(Real* x, const Real* memory, const Real* tok, int64_t batch, int64_t mem, int64_t tok_rows,
                           int64_t dim);
template <class Real>
void memory_concat_backward(Real* dmemory, Real* dtok, const Real* dx, int64_t batch, int64_t mem, int64_t tok_rows,
                            int64_t dim);

// out [batch, tok, dim] = the last tok rows of every sequence of x [batch, seq, dim].
template <class Real>
void token_rows_forward(Real* out, const Real* x, int64_t batch, int64_t seq, int64_t tok_rows, int64_t dim);
template <class Real>
void token_rows_backward(Real* dx, const Real* dout, int64_t batch, int64_t seq, int64_t tok_rows, int64_t dim);

// x[r, :] += v for x [rows, dim]; backward dv += Σ_r dx[r, :].
template <class Real> void add_vector_forward(Real* x, const Real* v, int64_t rows, int64_t dim);
template <class Real> void add_vector_backward(Real* dv, const Real* dx, int64_t rows, int64_t dim);

// out [rows, copies·width] = copies of x [rows, width] side by side; backward sums the copies.
template <class Real> void tile_columns_forward(Real* out, const Real* x, int64_t rows, int64_t width, int64_t copies);
template <class Real>
void tile_columns_backward(Real* dx, const Real* dout, int64_t rows, int64_t width, int64_t copies);

// λ_h = e^{lq1_h}·e^{lk1_h} − e^{lq2_h}·e^{lk2_h} + lambda_init (the PR's product of exponentials).
template <class Real>
void diff_lambda_forward(Real* lambda, const Real* lq1, const Real* lk1, const Real* lq2, const Real* lk2,
                         Real lambda_init, int64_t heads);
template <class Real>
void diff_lambda_backward(Real* dlq1, Real* dlk1, Real* dlq2, Real* dlk2, const Real* dlambda, const Real* lq1,
                          const Real* lk1, const Real* lq2, const Real* lk2, int64_t heads);

template <class Real> void sigmoid_forward(Real* out, const Real* x, int64_t n);
template <class Real> void sigmoid_backward(Real* dx, const Real* dout, const Real* out, int64_t n);

using dg::DiffCombineShape;

// out [rows, H, hd] = a1 − λ·a2 from a [rows, 2H, hd].
template <class Real>
void diff_combine_forward(Real* out, const Real* a, const Real* lambda, const DiffCombineShape& shape);
template <class Real>
void diff_combine_backward(Real* da, Real* dlambda, const Real* dout, const Real* a, const Real* lambda,
                           const DiffCombineShape& shape);

// The clip torch.quantile(|row|, q) would return with linear interpolation, evaluated in Real the
// way torch evaluates it in that dtype (rank = q·(n − 1), torch's two-formula lerp). `scratch`
// holds at least n values.
template <class Real> Real quantile_abs(const Real* row, int64_t n, double q, Real* scratch);

// The PR's fake_quant_per_row over w [rows, cols] (int8, fp32 scale): see backend.h. out may be w.
template <class Real> void fake_quant_rows_forward(Real* out, const Real* w, int64_t rows, int64_t cols);

}  // namespace dg::cpu
