#include "model/blocks/tau_fusion.h"

#include <cmath>

#include "core/error.h"

namespace dg::blocks {

void TauFusionConfig::validate(const std::string& where) const {
  DG_CHECK(streams >= 2, where << ": τ-fusion needs at least 2 streams, got " << streams);
  DG_CHECK(dim >= 1, where << ": τ-fusion needs the stream width (dim), got " << dim);
  DG_CHECK(latent >= 0, where << ": τ-fusion latent must be >= 0 (0: no projection), got " << latent);
  DG_CHECK(hidden >= 1, where << ": τ-fusion needs the controller hidden width (hidden >= 1), got " << hidden);
  DG_CHECK(init_mix.empty() || static_cast<int64_t>(init_mix.size()) == streams,
           where << ": τ-fusion init_mix has " << init_mix.size() << " values for " << streams << " streams");
  for (double m : init_mix) DG_CHECK(std::isfinite(m), where << ": τ-fusion init_mix holds a non-finite value");
  DG_CHECK(std::isfinite(init_logit), where << ": τ-fusion init_logit must be finite");
}

TauFusion::TauFusion(TauFusionConfig config, std::string prefix) : config_(std::move(config)), params_(std::move(prefix)) {
  config_.validate(params_.prefix().empty() ? std::string("tau_fusion") : params_.prefix());
}

void TauFusion::add_params(ParamLayout& layout) {
  DG_CHECK(params_.specs().empty(), "τ-fusion '" << params_.prefix() << "': add_params called twice");
  const int64_t n = config_.streams, d = config_.dim, k = config_.width(), h = config_.hidden;
  const double tau0 = 1.0 / (1.0 + std::exp(-config_.init_logit));
  stream_params_.assign(static_cast<size_t>(n), StreamParams{});
  for (int64_t i = 0; i < n; ++i) {
    StreamParams& p = stream_params_[static_cast<size_t>(i)];
    const std::string s = std::to_string(i);
    if (config_.latent > 0)
      p.proj_in = params_.add(layout, "proj_in." + s + ".weight", {k, d}, OptimGroup::Matrix, InitKind::UniformFanIn);
    const std::string c = "ctrl." + s + ".";
    p.fc_w = params_.add(layout, c + "fc.weight", {h, (n + 1) * k}, OptimGroup::Matrix, InitKind::UniformFanIn);
    p.fc_b = params_.add(layout, c + "fc.bias", {h}, OptimGroup::Scalar, InitKind::Constant, 0.0f);
    // Zero last layer: τ_i = σ(bias) for every token at step 0, whatever the streams hold.
    p.proj_w = params_.add(layout, c + "proj.weight", {k, h}, OptimGroup::Matrix, InitKind::Constant, 0.0f);
    p.proj_b = params_.add(layout, c + "proj.bias", {k}, OptimGroup::Scalar, InitKind::Constant,
                           static_cast<float>(config_.init_logit));
    const double m = config_.init_mix.empty() ? 1.0 / static_cast<double>(n) : config_.init_mix[static_cast<size_t>(i)];
    p.mix = params_.add(layout, "mix." + s, {k}, OptimGroup::Scalar, InitKind::Constant, static_cast<float>(m / tau0));
  }
  if (config_.latent > 0)
    proj_out_ = params_.add(layout, "proj_out.weight", {d, k}, OptimGroup::Matrix, InitKind::UniformFanIn);
}

TauFusion::Activations TauFusion::reserve_activations(Arena& arena, int64_t max_rows) const {
  const int64_t n = config_.streams, k = config_.width(), h = config_.hidden;
  Activations a;
  a.max_rows = max_rows;
  a.stacked = arena.reserve(DType::F32, {n, max_rows, k});
  a.features = arena.reserve(DType::F32, {max_rows, (n + 1) * k});
  a.hidden_pre = arena.reserve(DType::F32, {n, max_rows, h});
  a.hidden = arena.reserve(DType::F32, {n, max_rows, h});
  a.tau = arena.reserve(DType::F32, {n, max_rows, k});
  if (config_.latent > 0) a.fused = arena.reserve(DType::F32, {max_rows, k});
  return a;
}

TauFusion::Scratch TauFusion::reserve_scratch(Arena& arena, int64_t max_rows) const {
  const int64_t n = config_.streams, k = config_.width(), h = config_.hidden;
  Scratch s;
  s.max_rows = max_rows;
  s.logits = arena.reserve(DType::F32, {max_rows, k});
  s.dstacked = arena.reserve(DType::F32, {n, max_rows, k});
  s.dfeatures = arena.reserve(DType::F32, {max_rows, (n + 1) * k});
  s.dtau = arena.reserve(DType::F32, {max_rows, k});
  s.dlogits = arena.reserve(DType::F32, {max_rows, k});
  s.dhidden = arena.reserve(DType::F32, {max_rows, h});
  s.dhidden_pre = arena.reserve(DType::F32, {max_rows, h});
  if (config_.latent > 0) s.dfused = arena.reserve(DType::F32, {max_rows, k});
  return s;
}

int64_t TauFusion::rows_of(std::span<const Tensor> streams, const char* what) const {
  DG_CHECK(static_cast<int64_t>(streams.size()) == config_.streams,
           "τ-fusion '" << params_.prefix() << "': " << streams.size() << " " << what << " for "
                        << config_.streams << " streams");
  DG_CHECK(!stream_params_.empty(), "τ-fusion '" << params_.prefix() << "': add_params was not called");
  const int64_t rows = streams[0].rows();
  for (const Tensor& t : streams)
    DG_CHECK(t.rows() == rows && t.dim(-1) == config_.dim,
             "τ-fusion '" << params_.prefix() << "': every one of the " << what << " must be [" << rows << ", "
                          << config_.dim << "] (rows × dim)");
  return rows;
}

namespace {
// Plane i of a stacked [n, R, W] view: [R, W].
Tensor plane(const Tensor& stacked, int64_t i) { return stacked.slice(i, i + 1).view({stacked.dim(1), stacked.dim(2)}); }
}  // namespace

void TauFusion::forward(Backend& backend, const Arena& arena, const Activations& acts, const Scratch& scratch,
                        const Tensor& params, std::span<const Tensor> streams, const Tensor& out) const {
  const int64_t rows = rows_of(streams, "streams");
  DG_CHECK(rows <= acts.max_rows && rows <= scratch.max_rows,
           "τ-fusion '" << params_.prefix() << "': " << rows << " rows, planned for " << acts.max_rows);
  DG_CHECK(out.rows() == rows && out.dim(-1) == config_.dim,
           "τ-fusion '" << params_.prefix() << "': out must be [" << rows << ", " << config_.dim << "]");
  const int64_t n = config_.streams, k = config_.width(), h = config_.hidden;
  const bool latent = config_.latent > 0;
  const Tensor stacked = leading_view(arena.get(acts.stacked), {n, rows, k});
  const Tensor features = leading_view(arena.get(acts.features), {rows, (n + 1) * k});
  const Tensor hidden_pre = leading_view(arena.get(acts.hidden_pre), {n, rows, h});
  const Tensor hidden = leading_view(arena.get(acts.hidden), {n, rows, h});
  const Tensor tau = leading_view(arena.get(acts.tau), {n, rows, k});
  const Tensor logits = leading_view(arena.get(scratch.logits), {rows, k});

  for (int64_t i = 0; i < n; ++i) {
    const Tensor f = streams[static_cast<size_t>(i)];
    if (latent)
      backend.matmul(plane(stacked, i), f, false, params_.view(params, stream_params_[i].proj_in), true, 1.0f, 0.0f);
    else
      backend.copy(plane(stacked, i), f);
  }
  backend.tau_features_forward(features, stacked);

  for (int64_t i = 0; i < n; ++i) {
    const StreamParams& p = stream_params_[static_cast<size_t>(i)];
    const Tensor pre = plane(hidden_pre, i), hid = plane(hidden, i);
    backend.matmul(pre, features, false, params_.view(params, p.fc_w), true, 1.0f, 0.0f);
    backend.add_vector_forward(pre, params_.view(params, p.fc_b));
    backend.gelu_forward(hid, pre);
    backend.matmul(logits, hid, false, params_.view(params, p.proj_w), true, 1.0f, 0.0f);
    backend.add_vector_forward(logits, params_.view(params, p.proj_b));
    backend.sigmoid_forward(plane(tau, i), logits);
  }

  const Tensor out2 = out.view({rows, config_.dim});
  const Tensor fused = latent ? leading_view(arena.get(acts.fused), {rows, k}) : out2;
  backend.fill(fused, 0.0f);
  for (int64_t i = 0; i < n; ++i)
    backend.gated_add_forward(fused, plane(tau, i), params_.view(params, stream_params_[i].mix), plane(stacked, i));
  if (latent) backend.matmul(out2, fused, false, params_.view(params, proj_out_), true, 1.0f, 0.0f);
}

void TauFusion::backward(Backend& backend, const Arena& arena, const Activations& acts, const Scratch& scratch,
                         const Tensor& params, const Tensor& grads, std::span<const Tensor> streams,
                         std::span<const Tensor> dstreams, const Tensor& dout) const {
  const int64_t rows = rows_of(streams, "streams");
  rows_of(dstreams, "stream gradients");
  DG_CHECK(dout.rows() == rows && dout.dim(-1) == config_.dim,
           "τ-fusion '" << params_.prefix() << "': dout must be [" << rows << ", " << config_.dim << "]");
  const int64_t n = config_.streams, k = config_.width(), h = config_.hidden;
  const bool latent = config_.latent > 0;
  const Tensor stacked = leading_view(arena.get(acts.stacked), {n, rows, k});
  const Tensor features = leading_view(arena.get(acts.features), {rows, (n + 1) * k});
  const Tensor hidden_pre = leading_view(arena.get(acts.hidden_pre), {n, rows, h});
  const Tensor hidden = leading_view(arena.get(acts.hidden), {n, rows, h});
  const Tensor tau = leading_view(arena.get(acts.tau), {n, rows, k});
  const Tensor dstacked = leading_view(arena.get(scratch.dstacked), {n, rows, k});
  const Tensor dfeatures = leading_view(arena.get(scratch.dfeatures), {rows, (n + 1) * k});
  const Tensor dtau = leading_view(arena.get(scratch.dtau), {rows, k});
  const Tensor dlogits = leading_view(arena.get(scratch.dlogits), {rows, k});
  const Tensor dhidden = leading_view(arena.get(scratch.dhidden), {rows, h});
  const Tensor dhidden_pre = leading_view(arena.get(scratch.dhidden_pre), {rows, h});

  const Tensor dout2 = dout.view({rows, config_.dim});
  Tensor dfused = dout2;
  if (latent) {
    dfused = leading_view(arena.get(scratch.dfused), {rows, k});
    const Tensor fused = leading_view(arena.get(acts.fused), {rows, k});
    backend.matmul(dfused, dout2, false, params_.view(params, proj_out_), false, 1.0f, 0.0f);
    backend.matmul(params_.view(grads, proj_out_), dout2, true, fused, false, 1.0f, 1.0f);
  }

  backend.fill(dstacked, 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    const StreamParams& p = stream_params_[static_cast<size_t>(i)];
    backend.fill(dtau, 0.0f);
    backend.gated_add_backward(plane(dstacked, i), dtau, params_.view(grads, p.mix), dfused, plane(tau, i),
                               params_.view(params, p.mix), plane(stacked, i));
    backend.fill(dlogits, 0.0f);
    backend.sigmoid_backward(dlogits, dtau, plane(tau, i));
    backend.add_vector_backward(params_.view(grads, p.proj_b), dlogits);
    backend.matmul(params_.view(grads, p.proj_w), dlogits, true, plane(hidden, i), false, 1.0f, 1.0f);
    backend.matmul(dhidden, dlogits, false, params_.view(params, p.proj_w), false, 1.0f, 0.0f);
    backend.fill(dhidden_pre, 0.0f);
    backend.gelu_backward(dhidden_pre, dhidden, plane(hidden_pre, i));
    backend.add_vector_backward(params_.view(grads, p.fc_b), dhidden_pre);
    backend.matmul(params_.view(grads, p.fc_w), dhidden_pre, true, features, false, 1.0f, 1.0f);
    backend.matmul(dfeatures, dhidden_pre, false, params_.view(params, p.fc_w), false, 1.0f, i == 0 ? 0.0f : 1.0f);
  }
  backend.tau_features_backward(dstacked, dfeatures, stacked);

  for (int64_t i = 0; i < n; ++i) {
    const Tensor f = streams[static_cast<size_t>(i)], df = dstreams[static_cast<size_t>(i)];
    if (latent) {
      const int w = stream_params_[static_cast<size_t>(i)].proj_in;
      backend.matmul(params_.view(grads, w), plane(dstacked, i), true, f, false, 1.0f, 1.0f);
      backend.matmul(df, plane(dstacked, i), false, params_.view(params, w), false, 1.0f, 1.0f);
    } else {
      backend.axpy(df, 1.0f, plane(dstacked, i));
    }
  }
}

Tensor TauFusion::tau(const Arena& arena, const Activations& acts, int64_t rows) const {
  return leading_view(arena.get(acts.tau), {config_.streams, rows, config_.width()});
}

}  // namespace dg::blocks
