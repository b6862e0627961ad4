// DART's τ-fusion controller (seed 000) as a pluggable block: n input streams f_1..f_n [R, d] per
// token, optionally projected to a latent of width k (f̃_i = f_i P_iᵀ), the disagreement
// D = Σ_{i<j} |f̃_i − f̃_j|, and per stream a controller MLP_i: Linear((n+1)k → h), GELU (erf),
// Linear(h → k), giving τ_i = σ(MLP_i([f̃_1, ..., f̃_n, D])). The output is
//     fused = Σ_i (τ_i ⊙ s_i) ⊙ f̃_i,   out = fused (no latent) or fused P_outᵀ (latent),
// where s_i [k] is a learnable per-stream, per-feature scale. s exists so that step 0 can equal the
// block it replaces exactly: with the controllers' last layer zero and its bias b, τ_i = σ(b), and
// s_i = m_i / σ(b) makes τ_i·s_i = m_i (exactly when b = 0: σ(0) = 1/2, s_i = 2·m_i). Everything is
// per token, so causality holds. Math, parameters and wiring: docs/blocks.md.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "backend/arena.h"
#include "backend/backend.h"
#include "model/blocks/block_params.h"

namespace dg::blocks {

struct TauFusionConfig {
  int64_t streams = 2;  // n >= 2
  int64_t dim = 0;      // d: width of every input stream and of the output
  int64_t latent = 0;   // k: fuse in a projected latent of this width; 0 fuses in d itself (k = d)
  int64_t hidden = 0;   // h: hidden width of each controller MLP
  // m_i: the mix the block reproduces at step 0, out = Σ m_i ⊙ f_i (exact without a latent; with one,
  // the random projections make step 0 a different function). Empty: 1/n each.
  std::vector<double> init_mix;
  double init_logit = 0.0;  // b: the controllers' last-layer bias, so every τ starts at σ(b)

  int64_t width() const { return latent > 0 ? latent : dim; }  // k
  // Throws naming `where` (the setting or the use site) when a size is missing or inconsistent.
  void validate(const std::string& where) const;
};

class TauFusion {
 public:
  // The activations one use (call site, loop) saves for its backward; planned for max_rows rows.
  struct Activations {
    int stacked = -1;     // f̃ [n, R, k]
    int features = -1;    // controller input [R, (n+1)k]
    int hidden_pre = -1;  // [n, R, h] before GELU
    int hidden = -1;      // [n, R, h]
    int tau = -1;         // τ [n, R, k]
    int fused = -1;       // [R, k], latent only
    int64_t max_rows = 0;
  };
  // Temporaries of forward and backward, shared by every use of the block (uses run one at a time).
  struct Scratch {
    int logits = -1, dstacked = -1, dfeatures = -1, dtau = -1, dlogits = -1, dhidden = -1, dhidden_pre = -1,
        dfused = -1;
    int64_t max_rows = 0;
  };

  TauFusion(TauFusionConfig config, std::string prefix);
  const TauFusionConfig& config() const { return config_; }
  const BlockParams& params() const { return params_; }

  // Adds the block's tensors to `layout` under the prefix (names, shapes, init, optimizer groups in
  // docs/blocks.md). Call once, while the model builds its layout.
  void add_params(ParamLayout& layout);
  // For a layout built elsewhere (by the same add_params calls): re-reads the offsets by name.
  void bind(const ParamLayout& layout) { params_.bind(layout); }

  Activations reserve_activations(Arena& arena, int64_t max_rows) const;
  Scratch reserve_scratch(Arena& arena, int64_t max_rows) const;

  // streams: n tensors of R rows × d ([R, d] or [B, T, d]); out: R × d, disjoint from the streams.
  // `params` is the model's flat parameter buffer (or the forward copy QAT reads).
  void forward(Backend& backend, const Arena& arena, const Activations& acts, const Scratch& scratch,
               const Tensor& params, std::span<const Tensor> streams, const Tensor& out) const;
  // Adds ∂L/∂f_i into dstreams[i] and the parameter gradients into `grads` (same layout as params).
  // streams and params must be what the matching forward read.
  void backward(Backend& backend, const Arena& arena, const Activations& acts, const Scratch& scratch,
                const Tensor& params, const Tensor& grads, std::span<const Tensor> streams,
                std::span<const Tensor> dstreams, const Tensor& dout) const;

  // τ of this use's last forward, [n, rows, k] (interpretability: which stream each feature trusts).
  Tensor tau(const Arena& arena, const Activations& acts, int64_t rows) const;

 private:
  struct StreamParams {
    int proj_in = -1, fc_w = -1, fc_b = -1, proj_w = -1, proj_b = -1, mix = -1;
  };
  int64_t rows_of(std::span<const Tensor> streams, const char* what) const;

  TauFusionConfig config_;
  BlockParams params_;
  std::vector<StreamParams> stream_params_;
  int proj_out_ = -1;
};

}  // namespace dg::blocks
