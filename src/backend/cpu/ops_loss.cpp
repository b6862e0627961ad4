#include "backend/cpu/ops_loss.h"

#include <cmath>

#include "backend/cpu/parallel.h"
#include "backend/cpu/vec_math.h"

namespace dg::cpu {

template <class Real>
void softcap_ce_forward(Real* losses, const Real* logits, const int32_t* targets, int64_t count, int64_t vocab,
                        Real cap) {
#pragma omp parallel for schedule(static) if (count * vocab > kParallelMinElements)
  for (int64_t n = 0; n < count; ++n) {
    Real* capped = thread_scratch<Real>(2 * vocab);
    const Real max_value = softcap_row(capped, capped + vocab, logits + n * vocab, vocab, cap);
    const Real target_value = capped[targets[n]];
    const Real sum = exp_shift_sum(capped, vocab, max_value);
    losses[n] = max_value + std::log(sum) - target_value;
  }
}

template <class Real>
void softcap_ce_backward(Real* dlogits, const Real* logits, const int32_t* targets, int64_t count, int64_t vocab,
                         Real cap, Real weight) {
#pragma omp parallel for schedule(static) if (count * vocab > kParallelMinElements)
  for (int64_t n = 0; n < count; ++n) {
    Real* probs = thread_scratch<Real>(2 * vocab);
    Real* tanh_row = probs + vocab;
    const Real max_value = softcap_row(probs, tanh_row, logits + n * vocab, vocab, cap);
    const Real inv_sum = Real(1) / exp_shift_sum(probs, vocab, max_value);
    Real* drow = dlogits + n * vocab;
    // ∂loss/∂capped = softmax − onehot(target); ∂capped/∂z = 1 − tanh².
#pragma omp simd
    for (int64_t j = 0; j < vocab; ++j) drow[j] += weight * (probs[j] * inv_sum) * (Real(1) - tanh_row[j] * tanh_row[j]);
    const int64_t t = targets[n];
    drow[t] -= weight * (Real(1) - tanh_row[t] * tanh_row[t]);
  }
}

template void softcap_ce_forward<float>(float*, const float*, const int32_t*, int64_t, int64_t, float);
template void softcap_ce_forward<double>(double*, const double*, const int32_t*, int64_t, int64_t, double);
template void softcap_ce_backward<float>(float*, const float*, const int32_t*, int64_t, int64_t, float, float);
template void softcap_ce_backward<double>(double*, const double*, const int32_t*, int64_t, int64_t, double, double);

}  // namespace dg::cpu
