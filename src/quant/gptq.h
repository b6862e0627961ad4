// GPTQ (Frantar et al., 2022, "GPTQ: Accurate Post-Training Quantization for Generative
// Pre-trained Transformers"): quantizes a linear layer's weight W (rows = outputs, cols = inputs)
// one input column at a time, and after each column spreads its rounding error over the columns
// not yet quantized so that the layer's output on the calibration inputs changes least. The
// objective is ‖(W − Ŵ)·Xᵀ‖², whose Hessian in each row is H = Σ xᵀx over the calibration inputs x.
//
// The steps, as the paper's algorithm and the challenge's GPTQ records run them:
//  1. dead columns (H_jj = 0: an input that was always zero) get H_jj = 1 and W_:j = 0;
//  2. act order: columns are processed by descending H_jj (a stable sort), the permutation is undone at the end;
//  3. damping: H += λ·I with λ = damping · mean(diag H); when H is still not positive definite the
//     damping grows tenfold (up to 1.0) and the value used is reported;
//  4. U = the upper Cholesky factor of H⁻¹ (Uᵀ·U = H⁻¹), through LAPACK;
//  5. blocks of `block_size` columns: inside a block each column is rounded,
//     q = clamp(round_half_even(w / s), ±qmax) with the row's fixed scale s, its error
//     e = (w − q·s) / U_jj is subtracted from the block's later columns (e · U_j,later), and after
//     the block the accumulated errors update all later columns at once (one dgemm).
// Everything runs in double precision. The per-row scales are an input: a clip rule chooses them
// (quant/clip_rule.h) before GPTQ runs, exactly the ones the artifact stores.
#pragma once

#include <cstdint>

namespace dg::quant {

struct GptqOptions {
  double damping = 0.01;     // λ = damping · mean(diag H)
  int64_t block_size = 128;  // columns per lazy-update block
  bool act_order = true;     // descending diag(H) column order
};

struct GptqReport {
  double damping = 0.0;        // the damping fraction that made H positive definite
  int64_t dead_columns = 0;    // inputs that never fired (H_jj = 0)
};

// W: rows × cols (row-major fp32); hessian: cols × cols (row-major, symmetric); scales: one per
// row (> 0, the value a stored int is multiplied by); q: rows × cols ints in [−qmax, qmax].
GptqReport gptq_quantize(const float* w, int64_t rows, int64_t cols, const double* hessian, const float* scales,
                         int qmax, const GptqOptions& options, int8_t* q);

// tr((W − Ŵ)·H·(W − Ŵ)ᵀ) with Ŵ = q · scale per row: the squared error of the layer's outputs on the
// calibration inputs, which GPTQ minimizes (and round-to-nearest ignores).
double hessian_error(const float* w, int64_t rows, int64_t cols, const double* hessian, const int8_t* q,
                     const float* scales);

}  // namespace dg::quant
