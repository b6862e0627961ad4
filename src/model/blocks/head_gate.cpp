#include "model/blocks/head_gate.h"

#include "core/error.h"

namespace dg::blocks {

void HeadGateConfig::validate(const std::string& where) const {
  DG_CHECK(dim >= 1 && heads >= 1 && head_dim >= 1,
           where << ": the head gate needs dim, heads and head_dim >= 1, got " << dim << ", " << heads << ", "
                 << head_dim);
}

HeadGate::HeadGate(HeadGateConfig config, std::string prefix) : config_(config), params_(std::move(prefix)) {
  config_.validate(params_.prefix().empty() ? std::string("head_gate") : params_.prefix());
}

void HeadGate::add_params(ParamLayout& layout) {
  DG_CHECK(weight_ < 0, "head gate '" << params_.prefix() << "': add_params called twice");
  // Scalar Adam, not Muon: W_g is a small gate that starts at zero, and Muon's fixed-size,
  // orthogonalised steps swing every head's gate from the first update (measured in DART at d=128:
  // with Muon the gate cost 0.023 val_bpb, with Adam it gained 0.016; docs/results.md).
  if (config_.identity_init)
    weight_ = params_.add(layout, "weight", {config_.heads, config_.dim}, OptimGroup::Scalar, InitKind::Constant, 0.0f);
  else
    weight_ = params_.add(layout, "weight", {config_.heads, config_.dim}, OptimGroup::Scalar, InitKind::UniformFanIn);
}

HeadGate::Activations HeadGate::reserve_activations(Arena& arena, int64_t max_rows) const {
  Activations a;
  a.max_rows = max_rows;
  a.gate = arena.reserve(DType::F32, {max_rows, config_.heads});
  return a;
}

HeadGate::Scratch HeadGate::reserve_scratch(Arena& arena, int64_t max_rows) const {
  Scratch s;
  s.max_rows = max_rows;
  s.logits = arena.reserve(DType::F32, {max_rows, config_.heads});
  s.dgate = arena.reserve(DType::F32, {max_rows, config_.heads});
  s.dlogits = arena.reserve(DType::F32, {max_rows, config_.heads});
  return s;
}

int64_t HeadGate::checked_rows(const Tensor& x, const Tensor& attn, const Activations& acts) const {
  DG_CHECK(weight_ >= 0, "head gate '" << params_.prefix() << "': add_params was not called");
  const int64_t rows = x.rows();
  DG_CHECK(x.dim(-1) == config_.dim, "head gate '" << params_.prefix() << "': x has " << x.dim(-1)
                                                   << " features, expected " << config_.dim);
  DG_CHECK(attn.numel() == rows * config_.heads * config_.head_dim,
           "head gate '" << params_.prefix() << "': attn must hold " << rows << " rows × " << config_.heads
                         << " heads × " << config_.head_dim << " values");
  DG_CHECK(rows <= acts.max_rows, "head gate '" << params_.prefix() << "': " << rows << " rows, planned for "
                                                << acts.max_rows);
  return rows;
}

void HeadGate::forward(Backend& backend, const Arena& arena, const Activations& acts, const Scratch& scratch,
                       const Tensor& params, const Tensor& x, const Tensor& attn, const Tensor& out) const {
  const int64_t rows = checked_rows(x, attn, acts), H = config_.heads, hd = config_.head_dim;
  const Tensor logits = leading_view(arena.get(scratch.logits), {rows, H});
  const Tensor gate = leading_view(arena.get(acts.gate), {rows, H});
  backend.matmul(logits, x, false, params_.view(params, weight_), true, 1.0f, 0.0f);
  backend.sigmoid_forward(gate, logits);
  backend.head_gate_forward(out.view({rows, H, hd}), attn.view({rows, H, hd}), gate, config_.gain());
}

void HeadGate::backward(Backend& backend, const Arena& arena, const Activations& acts, const Scratch& scratch,
                        const Tensor& params, const Tensor& grads, const Tensor& x, const Tensor& attn,
                        const Tensor& dx, const Tensor& dattn, const Tensor& dout) const {
  const int64_t rows = checked_rows(x, attn, acts), H = config_.heads, hd = config_.head_dim;
  const Tensor gate = leading_view(arena.get(acts.gate), {rows, H});
  const Tensor dgate = leading_view(arena.get(scratch.dgate), {rows, H});
  const Tensor dlogits = leading_view(arena.get(scratch.dlogits), {rows, H});
  backend.fill(dgate, 0.0f);
  backend.head_gate_backward(dattn.view({rows, H, hd}), dgate, dout.view({rows, H, hd}), attn.view({rows, H, hd}),
                             gate, config_.gain());
  backend.fill(dlogits, 0.0f);
  backend.sigmoid_backward(dlogits, dgate, gate);
  backend.matmul(params_.view(grads, weight_), dlogits, true, x, false, 1.0f, 1.0f);
  backend.matmul(dx, dlogits, false, params_.view(params, weight_), false, 1.0f, 1.0f);
}

Tensor HeadGate::gate(const Arena& arena, const Activations& acts, int64_t rows) const {
  return leading_view(arena.get(acts.gate), {rows, config_.heads});
}

}  // namespace dg::blocks
