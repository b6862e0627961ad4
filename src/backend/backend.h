// The op interface the model graph is written against, once, for every device. The CPU backend
// (backend/cpu/) is the fp32 reference; the CUDA backend (kernels/) implements the same ops.
//
// Conventions every implementation follows:
//  * Shapes: activations are [rows, features] (rows = batch × time) or [B, T, heads, head_dim].
//  * Forward ops write (overwrite) their outputs.
//  * Backward ops ADD into every gradient they produce (dx += ..., dW += ...), as llm.c does: residual
//    branches and gradient accumulation over micro-steps then need no extra adds. Callers zero
//    gradient buffers when a fresh sum begins.
//  * Inputs and outputs never alias unless an op says so.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "backend/tensor.h"

namespace dg {

struct AdamHyper {
  float lr = 0.0f, beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f;
  int64_t step = 1;  // 1-based step for bias correction, as torch.optim.Adam
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual const char* name() const = 0;
  // What a log shows about the device: "cpu (2 threads)", "cuda:0 NVIDIA H200 (sm_90, 139.8 GiB,
  // 137.2 GiB free) precision bf16".
  virtual std::string description() const { return name(); }
  // The most memory allocated through this backend at once so far (bytes): parameters, gradients,
  // optimizer state and the activation arena.
  virtual int64_t peak_allocated_bytes() const { return 0; }

  // ---- memory ---------------------------------------------------------------------------------
  virtual void* allocate(int64_t bytes) = 0;  // zero-filled, 256-byte aligned
  virtual void release(void* ptr) = 0;
  virtual void copy_to_host(void* host_dst, const Tensor& src) = 0;
  virtual void copy_from_host(const Tensor& dst, const void* host_src) = 0;
  virtual void copy(const Tensor& dst, const Tensor& src) = 0;  // same device, same size
  virtual void fill(const Tensor& dst, float value) = 0;
  virtual void synchronize() = 0;

  // ---- elementwise ----------------------------------------------------------------------------
  // y += alpha * x
  virtual void axpy(const Tensor& y, float alpha, const Tensor& x) = 0;
  virtual void scale(const Tensor& x, float alpha) = 0;
  // Σ x² in double (for gradient norms and tests).
  virtual double sum_squares(const Tensor& x) = 0;

  // ---- embedding: out[n, :] = table[ids[n], :] ---------------------------------------------------
  virtual void embedding_forward(const Tensor& out, const Tensor& table, const Tensor& ids) = 0;
  virtual void embedding_backward(const Tensor& dtable, const Tensor& dout, const Tensor& ids) = 0;

  // ---- RMSNorm over the last dimension, no weight: out = x / sqrt(mean(x²) + eps) --------------
  // rstd [rows] is saved for backward. A row whose Σx² overflows (|x| ≳ 1e19: a diverged run) gives
  // NaN, where torch's rsqrt(inf) = 0 would silently zero it and make the logits uniform.
  virtual void rmsnorm_forward(const Tensor& out, const Tensor& rstd, const Tensor& x, float eps) = 0;
  virtual void rmsnorm_backward(const Tensor& dx, const Tensor& dout, const Tensor& x, const Tensor& rstd) = 0;

  // ---- matmul: C = alpha · op(A) · op(B) + beta · C, op = transpose when trans_* ------------------
  // A linear layer y = x Wᵀ is matmul(y, x, false, W, true, 1, 0); its backward is
  // matmul(dx, dy, false, W, false, 1, 1) and matmul(dW, dy, true, x, false, 1, 1).
  virtual void matmul(const Tensor& c, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b,
                      float alpha, float beta) = 0;

  // ---- rotary embedding on x [B, T, H, hd], in place -----------------------------------------
  // train_gpt.py's convention: half split, (x1, x2) -> (x1·cos + x2·sin, −x1·sin + x2·cos) with
  // angle (t − start)·base^(−2i/hd). Positions t < start (memory tokens) are left as they are.
  // inverse = true applies the transposed rotation: the backward of the forward.
  virtual void rope(const Tensor& x, float base, int64_t start, bool inverse) = 0;

  // ---- per-head gain on x [B, T, H, hd]: out = x · gain[h] ------------------------------------
  virtual void head_scale_forward(const Tensor& out, const Tensor& x, const Tensor& gain) = 0;
  virtual void head_scale_backward(const Tensor& dx, const Tensor& dgain, const Tensor& dout,
                                   const Tensor& x, const Tensor& gain) = 0;

  // ---- causal scaled-dot-product attention with grouped KV heads ------------------------------
  // q [B, T, H, hd], k and v [B, T, K, hd] with H % K == 0 (query head h reads KV head h/(H/K)),
  // out [B, T, H, hd], lse [B, H, T] (log-sum-exp of each softmax row, saved for backward).
  virtual void attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                                 const Tensor& v, float softmax_scale) = 0;
  virtual void attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                                  const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                  const Tensor& lse, float softmax_scale) = 0;

  // ---- relu²: out = relu(x)² -------------------------------------------------------------------
  virtual void relu2_forward(const Tensor& out, const Tensor& x) = 0;
  virtual void relu2_backward(const Tensor& dx, const Tensor& dout, const Tensor& x) = 0;

  // ---- residual mix: out = mix[0] ⊙ x + mix[1] ⊙ x0, mix [2, D] -------------------------------
  virtual void resid_mix_forward(const Tensor& out, const Tensor& x, const Tensor& x0, const Tensor& mix) = 0;
  virtual void resid_mix_backward(const Tensor& dx, const Tensor& dx0, const Tensor& dmix, const Tensor& dout,
                                  const Tensor& x, const Tensor& x0, const Tensor& mix) = 0;

  // ---- scaled residual add, in place: x += s ⊙ y, s [D] ----------------------------------------
  virtual void add_scaled_forward(const Tensor& x, const Tensor& s, const Tensor& y) = 0;
  // dy += s ⊙ dx, ds += Σ_rows dx ⊙ y (dx itself flows through unchanged).
  virtual void add_scaled_backward(const Tensor& dy, const Tensor& ds, const Tensor& dx, const Tensor& s,
                                   const Tensor& y) = 0;

  // ---- logit softcap + cross-entropy ------------------------------------------------------------
  // logits [N, V] are the raw projections z; the model's logits are cap·tanh(z/cap).
  // losses[n] = logsumexp(capped[n]) − capped[n, targets[n]] (natural log).
  virtual void softcap_ce_forward(const Tensor& losses, const Tensor& logits, const Tensor& targets, float cap) = 0;
  // dlogits[n, :] += weight · ∂losses[n]/∂z[n, :]  (weight = 1/N for a mean).
  virtual void softcap_ce_backward(const Tensor& dlogits, const Tensor& logits, const Tensor& targets, float cap,
                                   float weight) = 0;

  // ---- optimizers (update parameters in place) --------------------------------------------------
  // torch.optim.Adam semantics (no weight decay) with bias correction at hyper.step.
  virtual void adam_update(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                           const AdamHyper& hyper) = 0;
  // Newton–Schulz orthogonalisation as train_gpt.py's zeropower_via_newtonschulz5: out = NS(g)
  // with coefficients (3.4445, −4.7750, 2.0315), g normalised by its Frobenius norm (+1e-7),
  // transposed when rows > cols. `workspace` holds at least 2·m·n + 2·min(m,n)² floats.
  virtual void newton_schulz(const Tensor& out, const Tensor& g, int steps, const Tensor& workspace) = 0;

  // ==== DART ops (the shared-weight recurrent model, docs/dart.md) =================================
  // ---- memory rows: x [B, M+T, D] = [memory [M, D] broadcast over B ; tok [B, T, D]] ---------------
  virtual void memory_concat_forward(const Tensor& x, const Tensor& memory, const Tensor& tok) = 0;
  // dmemory += Σ_b dx[b, :M], dtok += dx[b, M:].
  virtual void memory_concat_backward(const Tensor& dmemory, const Tensor& dtok, const Tensor& dx) = 0;
  // ---- token rows: out [B, T, D] = x [B, S, D] without its first S − T rows per sequence -----------
  virtual void token_rows_forward(const Tensor& out, const Tensor& x) = 0;
  // dx[b, S−T:] += dout[b] (the memory rows receive nothing).
  virtual void token_rows_backward(const Tensor& dx, const Tensor& dout) = 0;

  // ---- broadcast vector add, in place: x[r, :] += v, v [D] ----------------------------------------
  virtual void add_vector_forward(const Tensor& x, const Tensor& v) = 0;
  // dv += Σ_rows dx.
  virtual void add_vector_backward(const Tensor& dv, const Tensor& dx) = 0;

  // ---- column tiling: out [R, n·W] = [x | x | ... ] for x [R, W] (n copies) -------------------------
  virtual void tile_columns_forward(const Tensor& out, const Tensor& x) = 0;
  // dx += Σ_copies dout[:, k·W:(k+1)·W].
  virtual void tile_columns_backward(const Tensor& dx, const Tensor& dout) = 0;

  // ---- the PR's differential-attention λ per head: λ = e^{q1}·e^{k1} − e^{q2}·e^{k2} + init -------
  // All five tensors hold H values.
  virtual void diff_lambda_forward(const Tensor& lambda, const Tensor& lq1, const Tensor& lk1, const Tensor& lq2,
                                   const Tensor& lk2, float lambda_init) = 0;
  virtual void diff_lambda_backward(const Tensor& dlq1, const Tensor& dlk1, const Tensor& dlq2, const Tensor& dlk2,
                                    const Tensor& dlambda, const Tensor& lq1, const Tensor& lk1, const Tensor& lq2,
                                    const Tensor& lk2) = 0;

  // ---- logistic sigmoid: out = 1 / (1 + e^{−x}) ------------------------------------------------------
  virtual void sigmoid_forward(const Tensor& out, const Tensor& x) = 0;
  // dx += dout · out · (1 − out)  (out is the forward's result).
  virtual void sigmoid_backward(const Tensor& dx, const Tensor& dout, const Tensor& out) = 0;

  // ---- differential combine of paired attention heads --------------------------------------------
  // a [B, S, 2H, hd] holds 2H attention outputs, out [B, S, H, hd]. Head i pairs (a1, a2) =
  // (a[i], a[H + i]) (the PR's two query sets) or, when interleaved, (a[2i], a[2i + 1]) (DIFF V2);
  // out_i = a1 − λ·a2 with λ [H] (one per head) or [B·S, H] (one per token and head).
  virtual void diff_combine_forward(const Tensor& out, const Tensor& a, const Tensor& lambda, bool interleaved) = 0;
  // da += ∂/∂a, dlambda += −Σ a2 ⊙ dout (summed over rows as well when λ is per head).
  virtual void diff_combine_backward(const Tensor& da, const Tensor& dlambda, const Tensor& dout, const Tensor& a,
                                     const Tensor& lambda, bool interleaved) = 0;

  // ---- the PR's per-row int8 fake quantization (fake_quant_per_row), forward only --------------------
  // Per row of w [R, C]: clip = torch.quantile(|w_r|, 0.9999984) (linear interpolation), scale =
  // max(clip/127, 1/127) kept in fp32 (the artifact stores it in fp16: see docs/dart.md),
  // q = clamp(round_half_even(clamp(w, ±clip)/scale), ±127), out = w + (q·scale − w) as the PR
  // evaluates it. The straight-through estimator's backward is the identity: no backward op.
  // out may equal w.
  virtual void fake_quant_rows_forward(const Tensor& out, const Tensor& w) = 0;

  // ==== Pluggable block ops (τ-fusion, DAAM density gate, headwise gate: docs/blocks.md) ==========
  // Every op is per row (token), so the blocks built on them never mix positions.
  // ---- τ-fusion controller input: features [R, (n+1)·k] = [s_0 | ... | s_{n−1} | D] per row, -------
  // D = Σ_{i<j} |s_i − s_j| (elementwise), from the n stacked streams [n, R, k].
  virtual void tau_features_forward(const Tensor& features, const Tensor& streams) = 0;
  // dstreams[i] += dfeatures[:, i·k:(i+1)·k] + Σ_{j≠i} sign(s_i − s_j) ⊙ dfeatures[:, n·k:]  (sign(0) = 0).
  virtual void tau_features_backward(const Tensor& dstreams, const Tensor& dfeatures, const Tensor& streams) = 0;

  // ---- GELU, erf form (torch's default): out = x·Φ(x) ---------------------------------------------
  virtual void gelu_forward(const Tensor& out, const Tensor& x) = 0;
  virtual void gelu_backward(const Tensor& dx, const Tensor& dout, const Tensor& x) = 0;

  // ---- gated scaled add, in place: x += (gate ⊙ s) ⊙ y, gate and y [R, D], s [D] ------------------
  // (gate·s is formed first, so a gate of 0.5 and s = 2m reproduce m ⊙ y exactly.)
  virtual void gated_add_forward(const Tensor& x, const Tensor& gate, const Tensor& s, const Tensor& y) = 0;
  // dy += gate ⊙ s ⊙ dx, dgate += s ⊙ y ⊙ dx, ds += Σ_rows gate ⊙ y ⊙ dx (dx flows through unchanged).
  virtual void gated_add_backward(const Tensor& dy, const Tensor& dgate, const Tensor& ds, const Tensor& dx,
                                  const Tensor& gate, const Tensor& s, const Tensor& y) = 0;

  // ---- DAAM density gate over the features of each row, in g groups of m = D/g -------------------
  // Per row and group: μ = mean, σ² = mean((x − μ)²), rstd = 1/√(σ² + eps) (both saved, [R, g]);
  // gate = Σ_j π_j·exp(−((x − μ − offset_j)·rstd)² / (2·scale_j)) over N Gaussians, offset, scale
  // and mix [g, N], π = softmax(mix[grp]); mix may be an empty view (Tensor{}) when N = 1 (π = 1).
  // out = x ⊙ gate, or x + x ⊙ gate when residual.
  virtual void daam_gate_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                                 const Tensor& offset, const Tensor& scale, const Tensor& mix, float eps,
                                 bool residual) = 0;
  // dx += ∂/∂x (through the gate's μ and σ² too), doffset, dscale, dmix += Σ_rows (dmix empty iff mix is).
  virtual void daam_gate_backward(const Tensor& dx, const Tensor& doffset, const Tensor& dscale, const Tensor& dmix,
                                  const Tensor& dout, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                  const Tensor& offset, const Tensor& scale, const Tensor& mix, bool residual) = 0;
  // density [R, g] = the gate averaged over each group's features (DAAM's "density activation", the
  // input of its Importance Factor), from the statistics a daam_gate_forward saved. Forward only.
  virtual void daam_density_forward(const Tensor& density, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                    const Tensor& offset, const Tensor& scale, const Tensor& mix) = 0;

  // ---- per-(row, head) gate: out[r, h, :] = x[r, h, :] · gain · gate[r, h] ------------------------
  // x and out [R, H, hd] (or [B, T, H, hd]), gate [R, H].
  virtual void head_gate_forward(const Tensor& out, const Tensor& x, const Tensor& gate, float gain) = 0;
  // dx += gain·gate ⊙ dout, dgate[r, h] += gain · Σ_d dout ⊙ x.
  virtual void head_gate_backward(const Tensor& dx, const Tensor& dgate, const Tensor& dout, const Tensor& x,
                                  const Tensor& gate, float gain) = 0;
};

std::unique_ptr<Backend> make_cpu_backend();

}  // namespace dg
