// The headwise attention output gate (Gated Attention, Qiu et al. 2025) as a pluggable block:
//     out[r, h, :] = attn[r, h, :] · γ·σ(x[r] · W_gᵀ)[h],   x [R, d], W_g [H, d], attn [R, H, hd],
// one scalar gate per token and head computed from the token's own hidden state (x: typically the
// normed input of the attention). γ = 1 with W_g drawn like a Linear layer is the paper's gate;
// identity_init (the default) starts W_g at zero and takes γ = 2, so γ·σ(0) = 1 and step 0 is
// exactly the ungated attention. Math, parameters and wiring: docs/blocks.md.
#pragma once

#include <cstdint>
#include <string>

#include "backend/arena.h"
#include "backend/backend.h"
#include "model/blocks/block_params.h"

namespace dg::blocks {

struct HeadGateConfig {
  int64_t dim = 0;       // d: width of x
  int64_t heads = 0;     // H
  int64_t head_dim = 0;  // hd
  bool identity_init = true;

  float gain() const { return identity_init ? 2.0f : 1.0f; }  // γ
  void validate(const std::string& where) const;
};

class HeadGate {
 public:
  struct Activations {
    int gate = -1;  // σ(x W_gᵀ) [R, H]
    int64_t max_rows = 0;
  };
  struct Scratch {
    int logits = -1, dgate = -1, dlogits = -1;  // [R, H] each
    int64_t max_rows = 0;
  };

  HeadGate(HeadGateConfig config, std::string prefix);
  const HeadGateConfig& config() const { return config_; }
  const BlockParams& params() const { return params_; }

  // Adds weight [H, d] (scalar Adam group; zero when identity_init, else nn.Linear's uniform init).
  void add_params(ParamLayout& layout);
  void bind(const ParamLayout& layout) { params_.bind(layout); }

  Activations reserve_activations(Arena& arena, int64_t max_rows) const;
  Scratch reserve_scratch(Arena& arena, int64_t max_rows) const;

  // x: R × d; attn and out: R·H·hd values ([R, H, hd] or [B, T, H, hd]), out disjoint from attn.
  void forward(Backend& backend, const Arena& arena, const Activations& acts, const Scratch& scratch,
               const Tensor& params, const Tensor& x, const Tensor& attn, const Tensor& out) const;
  // dx += ∂L/∂x, dattn += ∂L/∂attn, weight gradient into `grads`.
  void backward(Backend& backend, const Arena& arena, const Activations& acts, const Scratch& scratch,
                const Tensor& params, const Tensor& grads, const Tensor& x, const Tensor& attn, const Tensor& dx,
                const Tensor& dattn, const Tensor& dout) const;

  // σ(x W_gᵀ) of this use's last forward, [rows, H] (interpretability: which heads each token keeps).
  Tensor gate(const Arena& arena, const Activations& acts, int64_t rows) const;

 private:
  int64_t checked_rows(const Tensor& x, const Tensor& attn, const Activations& acts) const;

  HeadGateConfig config_;
  BlockParams params_;
  int weight_ = -1;
};

}  // namespace dg::blocks
