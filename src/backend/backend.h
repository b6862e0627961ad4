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
  // rstd [rows] is saved for backward.
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
};

std::unique_ptr<Backend> make_cpu_backend();

}  // namespace dg
