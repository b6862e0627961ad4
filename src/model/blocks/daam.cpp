#include "model/blocks/daam.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace dg::blocks {

void DaamConfig::validate(const std::string& where) const {
  DG_CHECK(dim >= 1, where << ": DAAM needs the feature width (dim), got " << dim);
  DG_CHECK(groups >= 1 && dim % groups == 0,
           where << ": DAAM groups must divide the width " << dim << ", got " << groups);
  DG_CHECK(gaussians >= 1, where << ": DAAM needs at least one Gaussian per group, got " << gaussians);
  DG_CHECK(eps > 0.0 && std::isfinite(eps), where << ": DAAM eps must be positive, got " << eps);
  DG_CHECK(init_scale > 0.0 && std::isfinite(init_scale),
           where << ": DAAM init_scale (c) must be positive, got " << init_scale);
  DG_CHECK(init_offset_std >= 0.0 && std::isfinite(init_offset_std),
           where << ": DAAM init_offset_std must be >= 0, got " << init_offset_std);
}

Daam::Daam(DaamConfig config, std::string prefix) : config_(config), params_(std::move(prefix)) {
  config_.validate(params_.prefix().empty() ? std::string("daam") : params_.prefix());
}

void Daam::add_params(ParamLayout& layout) {
  DG_CHECK(params_.specs().empty(), "DAAM '" << params_.prefix() << "': add_params called twice");
  const int64_t g = config_.groups, n = config_.gaussians;
  if (n == 1 || config_.init_offset_std == 0.0)
    offset_ = params_.add(layout, "offset", {g, n}, OptimGroup::Scalar, InitKind::Constant, 0.0f);
  else
    offset_ = params_.add(layout, "offset", {g, n}, OptimGroup::Scalar, InitKind::Normal,
                          static_cast<float>(config_.init_offset_std));
  scale_ = params_.add(layout, "scale", {g, n}, OptimGroup::Scalar, InitKind::Constant,
                       static_cast<float>(config_.init_scale));
  if (n > 1) mix_ = params_.add(layout, "mix_logits", {g, n}, OptimGroup::Scalar, InitKind::Constant, 0.0f);
}

Daam::Activations Daam::reserve_activations(Arena& arena, int64_t max_rows) const {
  Activations a;
  a.max_rows = max_rows;
  a.mean = arena.reserve(DType::F32, {max_rows, config_.groups});
  a.rstd = arena.reserve(DType::F32, {max_rows, config_.groups});
  return a;
}

Tensor Daam::mix_view(const Tensor& flat) const { return mix_ < 0 ? Tensor() : params_.view(flat, mix_); }

int64_t Daam::checked_rows(const Tensor& x, const Activations& acts, const char* what) const {
  DG_CHECK(offset_ >= 0, "DAAM '" << params_.prefix() << "': add_params was not called");
  DG_CHECK(x.dim(-1) == config_.dim,
           "DAAM '" << params_.prefix() << "': " << what << " has " << x.dim(-1) << " features, expected " << config_.dim);
  DG_CHECK(x.rows() <= acts.max_rows,
           "DAAM '" << params_.prefix() << "': " << x.rows() << " rows, planned for " << acts.max_rows);
  return x.rows();
}

void Daam::forward(Backend& backend, const Arena& arena, const Activations& acts, const Tensor& params, const Tensor& x,
                   const Tensor& out) const {
  const int64_t rows = checked_rows(x, acts, "x");
  const int64_t g = config_.groups;
  backend.daam_gate_forward(out, leading_view(arena.get(acts.mean), {rows, g}),
                            leading_view(arena.get(acts.rstd), {rows, g}), x, params_.view(params, offset_),
                            params_.view(params, scale_), mix_view(params), static_cast<float>(config_.eps),
                            config_.residual);
}

void Daam::backward(Backend& backend, const Arena& arena, const Activations& acts, const Tensor& params,
                    const Tensor& grads, const Tensor& x, const Tensor& dx, const Tensor& dout) const {
  const int64_t rows = checked_rows(x, acts, "x");
  const int64_t g = config_.groups;
  backend.daam_gate_backward(dx, params_.view(grads, offset_), params_.view(grads, scale_), mix_view(grads), dout, x,
                             leading_view(arena.get(acts.mean), {rows, g}), leading_view(arena.get(acts.rstd), {rows, g}),
                             params_.view(params, offset_), params_.view(params, scale_), mix_view(params),
                             config_.residual);
}

void Daam::density(Backend& backend, const Arena& arena, const Activations& acts, const Tensor& params, const Tensor& x,
                   const Tensor& density) const {
  const int64_t rows = checked_rows(x, acts, "x");
  const int64_t g = config_.groups;
  backend.daam_density_forward(density, x, leading_view(arena.get(acts.mean), {rows, g}),
                               leading_view(arena.get(acts.rstd), {rows, g}), params_.view(params, offset_),
                               params_.view(params, scale_), mix_view(params));
}

std::vector<double> importance_factors(const std::vector<double>& mean_density) {
  std::vector<double> out(mean_density.size(), 0.0);
  if (mean_density.empty()) return out;
  const auto [lo, hi] = std::minmax_element(mean_density.begin(), mean_density.end());
  const double range = *hi - *lo;
  if (!(range > 0.0)) return out;
  for (size_t i = 0; i < out.size(); ++i) out[i] = (mean_density[i] - *lo) / range;
  return out;
}

}  // namespace dg::blocks
