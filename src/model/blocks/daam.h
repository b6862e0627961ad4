// DAAM, the density adaptive gate of seed 001, as a pluggable block. Over the FEATURE axis of each
// token (never over the sequence: that would leak future tokens), in g groups of d/g features:
// per group mean μ and variance σ², and with N Gaussians per group
//     gate = Σ_j π_j · exp(−((x − (μ + δ_j)) / √(σ² + ε))² / (2·c_j)),   π = softmax(w),
//     out  = x ⊙ gate            (plain)   or   x + x ⊙ gate   (residual, the seed's Density Block).
// N = 1 is the seed's DAAM (gate = exp(−y²/(2c)), no mixture weights); N > 1 its mixture of
// densities. δ, c (and w) are learnable per group and Gaussian ([g, N]), as the seed's multi-head
// DAAM has one set per head. Math, parameters and wiring: docs/blocks.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/arena.h"
#include "backend/backend.h"
#include "model/blocks/block_params.h"

namespace dg::blocks {

struct DaamConfig {
  int64_t dim = 0;        // d: features per token
  int64_t groups = 1;     // g: d % g == 0 (the seed's heads)
  int64_t gaussians = 1;  // N per group; 1 is the plain DAAM
  bool residual = false;  // out = x + x ⊙ gate
  double eps = 1e-5;      // added to σ² (the seed's 1e-5)
  double init_scale = 2.0;       // c at step 0 (the seed's ξ = 2)
  double init_offset_std = 0.5;  // N > 1: δ_j ~ N(0, std²) so the Gaussians can tell apart (N = 1: δ = 0)

  void validate(const std::string& where) const;
};

class Daam {
 public:
  struct Activations {
    int mean = -1, rstd = -1;  // [R, g]: the statistics the forward used
    int64_t max_rows = 0;
  };

  Daam(DaamConfig config, std::string prefix);
  const DaamConfig& config() const { return config_; }
  const BlockParams& params() const { return params_; }

  // Adds offset [g, N], scale [g, N] and (N > 1) mix_logits [g, N], all Scalar (Adam).
  void add_params(ParamLayout& layout);
  void bind(const ParamLayout& layout) { params_.bind(layout); }

  Activations reserve_activations(Arena& arena, int64_t max_rows) const;

  // x and out: R × d ([R, d] or [B, T, d]), disjoint.
  void forward(Backend& backend, const Arena& arena, const Activations& acts, const Tensor& params, const Tensor& x,
               const Tensor& out) const;
  // dx += ∂L/∂x (including the paths through μ and σ²), parameter gradients into `grads`.
  void backward(Backend& backend, const Arena& arena, const Activations& acts, const Tensor& params,
                const Tensor& grads, const Tensor& x, const Tensor& dx, const Tensor& dout) const;
  // After a forward on x: density [R, g] = the gate averaged over each group's features, the
  // seed's "density attention" DA that importance_factors() turns into its Importance Factor.
  void density(Backend& backend, const Arena& arena, const Activations& acts, const Tensor& params, const Tensor& x,
               const Tensor& density) const;

 private:
  Tensor mix_view(const Tensor& flat) const;  // empty when N = 1
  int64_t checked_rows(const Tensor& x, const Activations& acts, const char* what) const;

  DaamConfig config_;
  BlockParams params_;
  int offset_ = -1, scale_ = -1, mix_ = -1;
};

// The seed's Importance Factor: IF = (DA − min DA) / (max DA − min DA) over the given densities
// (typically each group's density averaged over the validation tokens, one entry per group, use
// site and loop). All zeros when every density is equal (no group stands out).
std::vector<double> importance_factors(const std::vector<double>& mean_density);

}  // namespace dg::blocks
