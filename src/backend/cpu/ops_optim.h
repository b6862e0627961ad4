// Optimizer kernels: torch.optim.Adam (fused=True, as train_gpt.py uses it) and the Muon
// Newton–Schulz orthogonalisation of train_gpt.py's zeropower_via_newtonschulz5.
#pragma once

#include <cstdint>

namespace dg::cpu {

// m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
// p −= (lr / (1−β1^step)) · m / (sqrt(v) / sqrt(1−β2^step) + eps).   step is 1-based.
template <class Real>
void adam_update(Real* param, const Real* grad, Real* m, Real* v, int64_t n, double lr, double beta1, double beta2,
                 double eps, int64_t step);

// Newton–Schulz coefficients of zeropower_via_newtonschulz5.
inline constexpr double kNewtonSchulzA = 3.4445, kNewtonSchulzB = -4.7750, kNewtonSchulzC = 2.0315;
inline constexpr double kNewtonSchulzEps = 1e-7;

// out [rows, cols] = NS(g [rows, cols]): X = G/(‖G‖_F + 1e-7), transposed when rows > cols, then
// `steps` times A = X·Xᵀ, X ← a·X + (b·A + c·A·A)·X; transposed back.
// workspace holds at least newton_schulz_workspace(rows, cols) elements; out must not alias g.
template <class Real>
void newton_schulz(Real* out, const Real* g, int64_t rows, int64_t cols, int steps, Real* workspace);

inline int64_t newton_schulz_workspace(int64_t rows, int64_t cols) {
  const int64_t small = rows < cols ? rows : cols;
  return 2 * rows * cols + 2 * small * small;
}

}  // namespace dg::cpu
