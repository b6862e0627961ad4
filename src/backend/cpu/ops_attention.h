// Causal scaled-dot-product attention with grouped KV heads (GQA) on [batch, seq, heads, head_dim]
// tensors: query head h reads KV head h / (heads / kv_heads). Blocks of query rows: scores
// S = scale·Q·Kᵀ against the keys up to the block's end, max-subtracted softmax per row (keys after
// the row's position get weight 0), out = P·V. lse [batch, heads, seq] keeps each row's
// log-sum-exp, so the backward recomputes P instead of storing it.
#pragma once

#include <cstdint>

#include "backend/op_shapes.h"

namespace dg::cpu {

using dg::AttentionShape;

// Query rows per block: the score tile is [kAttentionBlock, seq] per thread.
inline constexpr int64_t kAttentionBlock = 64;

template <class Real>
void attention_forward(Real* out, Real* lse, const Real* q, const Real* k, const Real* v, const AttentionShape& shape,
                       Real softmax_scale);

// dq, dk, dv += the gradients of Σ dout ⊙ out: with P the softmax, dP = dout·Vᵀ,
// dS = P ⊙ (dP − delta) where delta = rowsum(dout ⊙ out), dq = scale·dS·K, dk = scale·dSᵀ·Q, dv = Pᵀ·dout.
template <class Real>
void attention_backward(Real* dq, Real* dk, Real* dv, const Real* dout, const Real* q, const Real* k, const Real* v,
                        const Real* out, const Real* lse, const AttentionShape& shape, Real softmax_scale);

}  // namespace dg::cpu
