// DART's attention at one pass, forward and backward.
//
// The PR's form ("diff"): W = c_q + delta_A[l]·delta_B[l] (2d × d), fake-quantized per row when
// qat_wq; q = xWᵀ holds q1 (H heads) then q2 (H heads), k = x c_kᵀ holds k1 (K heads) then k2,
// v = x c_vᵀ (K heads). Viewed as 2H query heads against 2K key heads, one GQA attention call
// computes both softmaxes (query head h < H reads k1's group h/(H/K), head H + h reads k2's), with v
// tiled twice so both key sets see the same values. out_h = A1_h − λ_h·A2_h with the PR's per-head λ.
// DIFF V2 ("diff_v2"): the same W gives 2H query heads against K KV heads (2H/K per group, so heads
// 2i and 2i+1 share one), λ = σ(x·W_λᵀ) per token and head, out_i = A_{2i} − λ_i·A_{2i+1}.
// Both: RMSNorm on every q/k head, rotary on the token rows only (memory rows keep their values),
// q_gain on the query heads, causal softmax(q·kᵀ/√hd) over all M + T rows.
#include <cmath>

#include "model/dart_internal.h"

namespace dg {

void DartModel::attention_forward(int64_t pass, const BlockParams& p) {
  const DartShape& s = shape_;
  const int64_t l = pass / s.num_unique_blocks, n = rows_ * full_seq_, D = s.model_dim, hd = s.head_dim;
  const int64_t S = full_seq_, QH = s.q_heads(), KH = s.k_heads(), r = s.delta_rank;
  const PassActs& a = passes_[static_cast<size_t>(pass)];
  auto A = [&](int handle) { return act(handle, n); };
  auto heads = [&](const Tensor& t, int64_t count) { return t.view({rows_, S, count, hd}); };

  // The pass's effective W_q, exactly what the forward reads (the backward needs the same values).
  Tensor w = p.c_q.view({s.q_width(), D});
  if (s.separate_wq()) {
    const Tensor own = arena_.get(a.w_used);
    backend_.copy(own, w);
    if (r > 0)
      backend_.matmul(own, flat_part(p.delta_a, l, s.q_width() * r, {s.q_width(), r}), false,
                      flat_part(p.delta_b, l, r * D, {r, D}), false, 1.0f, 1.0f);
    if (s.qat_wq) backend_.fake_quant_rows_forward(own, own);
    w = own;
  }
  backend_.matmul(A(a.q_raw), A(a.attn_norm), false, w, true, 1.0f, 0.0f);
  backend_.matmul(A(a.k_raw), A(a.attn_norm), false, p.c_k.view({s.k_width(), D}), true, 1.0f, 0.0f);
  backend_.matmul(A(a.v), A(a.attn_norm), false, p.c_v.view({s.v_width(), D}), true, 1.0f, 0.0f);
  backend_.rmsnorm_forward(A(a.q_rot).view({n * QH, hd}), arena_.get(a.q_rstd).slice(0, n * QH),
                           A(a.q_raw).view({n * QH, hd}), kDartRmsEps);
  backend_.rmsnorm_forward(A(a.k).view({n * KH, hd}), arena_.get(a.k_rstd).slice(0, n * KH),
                           A(a.k_raw).view({n * KH, hd}), kDartRmsEps);
  const int64_t M = s.num_memory_tokens;
  backend_.rope(heads(A(a.q_rot), QH), s.rope_base, M, false);
  backend_.rope(heads(A(a.k), KH), s.rope_base, M, false);

  Tensor gain = p.q_gain;
  Tensor v_att = A(a.v);
  if (!s.diff_v2()) {
    gain = arena_.get(a.gain_ext);
    backend_.tile_columns_forward(gain.view({1, QH}), p.q_gain.view({1, s.num_heads}));
    v_att = A(a.v_ext);
    backend_.tile_columns_forward(v_att, A(a.v));
  }
  backend_.head_scale_forward(heads(A(a.q), QH), heads(A(a.q_rot), QH), gain);
  backend_.attention_forward(heads(A(a.att), QH), arena_.get(a.lse).slice(0, rows_), heads(A(a.q), QH),
                             heads(A(a.k), KH), heads(v_att, KH), 1.0f / std::sqrt(static_cast<float>(hd)));

  Tensor lam;
  if (!s.diff_v2()) {
    lam = arena_.get(a.lam);
    backend_.diff_lambda_forward(lam, p.lambda_q1, p.lambda_k1, p.lambda_q2, p.lambda_k2,
                                 static_cast<float>(DartShape::lambda_init()));
  } else {
    lam = A(a.lam);
    backend_.matmul(A(a.lam_pre), A(a.attn_norm), false, p.lambda_proj.view({s.num_heads, D}), true, 1.0f, 0.0f);
    backend_.sigmoid_forward(lam, A(a.lam_pre));
  }
  backend_.diff_combine_forward(heads(A(a.comb), s.num_heads), heads(A(a.att), QH), lam, s.diff_v2());
  const Tensor proj_in = blocks_.has_attn_output()
                             ? blocks_.attn_output_forward(block_context(), pass, A(a.attn_norm), A(a.comb))
                             : A(a.comb);
  backend_.matmul(A(a.y_attn), proj_in, false, p.proj.view({D, D}), true, 1.0f, 0.0f);
}

// Reads ∂/∂y_attn from g.dy, adds the weight gradients into `dp` and leaves ∂/∂attn_norm in g.dnorm.
void DartModel::attention_backward(int64_t pass, const BlockParams& p, const BlockParams& dp) {
  const DartShape& s = shape_;
  const int64_t l = pass / s.num_unique_blocks, n = rows_ * full_seq_, D = s.model_dim, hd = s.head_dim;
  const int64_t S = full_seq_, QH = s.q_heads(), KH = s.k_heads(), H = s.num_heads, r = s.delta_rank;
  const PassActs& a = passes_[static_cast<size_t>(pass)];
  const GlobalActs& g = *global_;
  auto A = [&](int handle) { return act(handle, n); };
  auto heads = [&](const Tensor& t, int64_t count) { return t.view({rows_, S, count, hd}); };
  const Tensor dnorm = A(g.dnorm), dcomb = A(g.dcomb), datt = A(g.datt);

  // y = proj_in · projᵀ, proj_in = comb or what the attn_output blocks made of it.
  bool dnorm_written = false;
  if (!blocks_.has_attn_output()) {
    backend_.matmul(dcomb, A(g.dy), false, p.proj.view({D, D}), false, 1.0f, 0.0f);
    backend_.matmul(dp.proj.view({D, D}), A(g.dy), true, A(a.comb), false, 1.0f, 1.0f);
  } else {
    const Tensor dproj_in = A(g.dblock);
    backend_.matmul(dproj_in, A(g.dy), false, p.proj.view({D, D}), false, 1.0f, 0.0f);
    backend_.matmul(dp.proj.view({D, D}), A(g.dy), true, blocks_.attn_output_value(arena_, pass, n), false, 1.0f, 1.0f);
    if (blocks_.has_head_gate()) {
      // The head gate reads the normed input: its gradient joins the projections' below.
      backend_.fill(dnorm, 0.0f);
      dnorm_written = true;
    }
    blocks_.attn_output_backward(block_context(), pass, A(a.attn_norm), A(a.comb), dproj_in, dcomb, dnorm);
  }

  // comb = a1 − λ·a2, and λ's own inputs.
  const Tensor lam = s.diff_v2() ? A(a.lam) : arena_.get(a.lam);
  const Tensor dlam = s.diff_v2() ? act(g.dlam, n) : arena_.get(g.dlam).slice(0, 1).view({H});
  backend_.fill(datt, 0.0f);
  backend_.fill(dlam, 0.0f);
  backend_.diff_combine_backward(heads(datt, QH), dlam, heads(dcomb, H), heads(A(a.att), QH), lam, s.diff_v2());
  if (!s.diff_v2()) {
    backend_.diff_lambda_backward(dp.lambda_q1, dp.lambda_k1, dp.lambda_q2, dp.lambda_k2, dlam, p.lambda_q1,
                                  p.lambda_k1, p.lambda_q2, p.lambda_k2);
  } else {
    const Tensor dlam_pre = act(g.dlam_pre, n);
    backend_.fill(dlam_pre, 0.0f);
    backend_.sigmoid_backward(dlam_pre, dlam, lam);
    backend_.matmul(dnorm, dlam_pre, false, p.lambda_proj.view({H, D}), false, 1.0f, dnorm_written ? 1.0f : 0.0f);
    backend_.matmul(dp.lambda_proj.view({H, D}), dlam_pre, true, A(a.attn_norm), false, 1.0f, 1.0f);
    dnorm_written = true;
  }

  // Softmax attention over the 2H query heads.
  // The values the attention read: v itself (DIFF V2: k_width = v_width) or v tiled twice.
  const Tensor dq = A(g.dq), dk = A(g.dk), dv_att = A(g.dv_att);
  const Tensor v_att = s.diff_v2() ? A(a.v) : A(a.v_ext);
  backend_.fill(dq, 0.0f);
  backend_.fill(dk, 0.0f);
  backend_.fill(dv_att, 0.0f);
  backend_.attention_backward(heads(dq, QH), heads(dk, KH), heads(dv_att, KH), heads(datt, QH), heads(A(a.q), QH),
                              heads(A(a.k), KH), heads(v_att, KH), heads(A(a.att), QH), arena_.get(a.lse).slice(0, rows_),
                              1.0f / std::sqrt(static_cast<float>(hd)));
  Tensor dv = dv_att;
  if (!s.diff_v2()) {
    dv = A(g.dv);
    backend_.fill(dv, 0.0f);
    backend_.tile_columns_backward(dv, dv_att);
  }

  // q = q_gain ⊙ rope(rmsnorm(q_raw)); k = rope(rmsnorm(k_raw)).
  const Tensor dq_rot = A(g.dq_rot), dq_raw = A(g.dq_raw), dk_raw = A(g.dk_raw);
  backend_.fill(dq_rot, 0.0f);
  if (!s.diff_v2()) {
    const Tensor dgain = arena_.get(g.dgain_ext);
    backend_.fill(dgain, 0.0f);
    backend_.head_scale_backward(heads(dq_rot, QH), dgain, heads(dq, QH), heads(A(a.q_rot), QH), arena_.get(a.gain_ext));
    backend_.tile_columns_backward(dp.q_gain.view({1, H}), dgain.view({1, QH}));
  } else {
    backend_.head_scale_backward(heads(dq_rot, QH), dp.q_gain, heads(dq, QH), heads(A(a.q_rot), QH), p.q_gain);
  }
  const int64_t M = s.num_memory_tokens;
  backend_.rope(heads(dq_rot, QH), s.rope_base, M, true);
  backend_.rope(heads(dk, KH), s.rope_base, M, true);
  backend_.fill(dq_raw, 0.0f);
  backend_.fill(dk_raw, 0.0f);
  backend_.rmsnorm_backward(dq_raw.view({n * QH, hd}), dq_rot.view({n * QH, hd}), A(a.q_raw).view({n * QH, hd}),
                            arena_.get(a.q_rstd).slice(0, n * QH));
  backend_.rmsnorm_backward(dk_raw.view({n * KH, hd}), dk.view({n * KH, hd}), A(a.k_raw).view({n * KH, hd}),
                            arena_.get(a.k_rstd).slice(0, n * KH));

  // The projections. The input gradient uses the W_q the forward read (fake-quantized when
  // qat_wq); its gradient reaches c_q and the loop's delta unchanged (straight-through).
  const Tensor w = s.separate_wq() ? arena_.get(a.w_used) : p.c_q.view({s.q_width(), D});
  backend_.matmul(dnorm, dq_raw, false, w, false, 1.0f, dnorm_written ? 1.0f : 0.0f);
  backend_.matmul(dnorm, dk_raw, false, p.c_k.view({s.k_width(), D}), false, 1.0f, 1.0f);
  backend_.matmul(dnorm, dv, false, p.c_v.view({s.v_width(), D}), false, 1.0f, 1.0f);
  backend_.matmul(dp.c_k.view({s.k_width(), D}), dk_raw, true, A(a.attn_norm), false, 1.0f, 1.0f);
  backend_.matmul(dp.c_v.view({s.v_width(), D}), dv, true, A(a.attn_norm), false, 1.0f, 1.0f);
  const Tensor dc_q = dp.c_q.view({s.q_width(), D});
  if (r == 0) {
    backend_.matmul(dc_q, dq_raw, true, A(a.attn_norm), false, 1.0f, 1.0f);
  } else {
    const Tensor dw = arena_.get(g.dw);
    backend_.matmul(dw, dq_raw, true, A(a.attn_norm), false, 1.0f, 0.0f);
    backend_.axpy(dc_q, 1.0f, dw);
    // W = c_q + A_l·B_l: dA_l += dW·B_lᵀ, dB_l += A_lᵀ·dW.
    backend_.matmul(flat_part(dp.delta_a, l, s.q_width() * r, {s.q_width(), r}), dw, false,
                    flat_part(p.delta_b, l, r * D, {r, D}), true, 1.0f, 1.0f);
    backend_.matmul(flat_part(dp.delta_b, l, r * D, {r, D}), flat_part(p.delta_a, l, s.q_width() * r, {s.q_width(), r}),
                    true, dw, false, 1.0f, 1.0f);
  }
}

}  // namespace dg
