// DartModel's private structures, shared by its three source files (dart_model.cpp: the loop
// schedule; dart_block.cpp: one pass; dart_attention.cpp: the differential attention).
#pragma once

#include <cfloat>
#include <vector>

#include "model/dart_model.h"

namespace dg {

// F.rms_norm with eps=None: torch uses the dtype's machine epsilon (as train_gpt.py and the PR).
inline constexpr float kDartRmsEps = FLT_EPSILON;

// One pass's saved activations (arena handles; rows N = batch × (M + T)). -1: not used by this
// configuration.
struct DartModel::PassActs {
  int mix_params = -1;  // resid_mix[:, l, :] gathered into [2, d]
  int x_mix = -1, attn_norm = -1, attn_rstd = -1;
  int w_used = -1;  // W_q,eff = c_q + delta_A[l]·delta_B[l], fake-quantized: what the forward read
  int q_raw = -1, q_rstd = -1, q_rot = -1, q = -1;
  int k_raw = -1, k_rstd = -1, k = -1, v = -1;
  int v_ext = -1;     // the PR's form: v tiled twice, so q2 reads it through the k2 groups
  int gain_ext = -1;  // the PR's form: q_gain tiled over both query sets
  int att = -1, lse = -1;
  int lam_pre = -1, lam = -1;  // λ: [H] (PR's) or σ(x·W_λᵀ) [N, H] (DIFF V2)
  int comb = -1, y_attn = -1, x_attn = -1;
  int mlp_norm = -1, mlp_rstd = -1, fc = -1, h = -1, y_mlp = -1, x_out = -1;
};

// One loop's output with its U-Net skip (decoder loops) and its deep-supervision head.
struct DartModel::LoopActs {
  int x_skip = -1;
  int tok_x = -1, final_norm = -1, final_rstd = -1, logits = -1, losses = -1;
  bool head_done = false;
};

// Batch-wide buffers: inputs, embedding, x0, and the gradient scratch every pass reuses.
struct DartModel::GlobalActs {
  int inputs, targets, emb, emb_rstd, tok, x0;
  int dx, dx_alt, dx0, dy, dnorm, dh, dfc, dcomb, datt, dq, dq_rot, dq_raw, dk, dk_raw, dv_att, dv, dlam, dlam_pre,
      dgain_ext, dmix, dw, dlogits, dfinal, dtok_x, dtok, demb;
  std::vector<int> dskip;  // per encoder loop: gradient arriving through its skip
  int dblock = -1;           // [N, D] gradient scratch of the mlp_input and block_output sites
  int dfused = -1;           // loop_output: ∂/∂(the fused head input)
  std::vector<int> dloop;    // loop_output: per loop, ∂/∂(its output) through the fusion
};

// One block's tensors as flat views (per-loop tensors hold L rows); parameters or gradients.
struct DartModel::BlockParams {
  Tensor attn_scale, mlp_scale, resid_mix, q_gain, lambda_q1, lambda_k1, lambda_q2, lambda_k2, lambda_proj, delta_a,
      delta_b, c_q, c_k, c_v, proj, fc, mlp_proj, loop_embed;
};

// Rows [index·width, (index+1)·width) of a flat tensor, viewed with `dims`.
inline Tensor flat_part(const Tensor& flat, int64_t index, int64_t width, std::initializer_list<int64_t> dims) {
  return flat.slice(index * width, (index + 1) * width).view(dims);
}

}  // namespace dg
