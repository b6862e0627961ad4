// Logit softcap fused with cross-entropy, as train_gpt.py: capped = cap·tanh(z/cap),
// loss[n] = logsumexp(capped[n, :]) − capped[n, target[n]] (natural log, max-subtracted).
#pragma once

#include <cstdint>

namespace dg::cpu {

// targets must lie in [0, vocab) (checked by the caller).
template <class Real>
void softcap_ce_forward(Real* losses, const Real* logits, const int32_t* targets, int64_t count, int64_t vocab,
                        Real cap);

// dlogits[n, :] += weight · ∂loss[n]/∂z[n, :] = weight · (softmax − onehot) ⊙ (1 − tanh²(z/cap)).
template <class Real>
void softcap_ce_backward(Real* dlogits, const Real* logits, const int32_t* targets, int64_t count, int64_t vocab,
                         Real cap, Real weight);

}  // namespace dg::cpu
