#include "train/optimizer.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace dg {

OptimizerSettings OptimizerSettings::from_config(const Config& c) {
  OptimizerSettings s;
  s.token_lr = c.get_bool("tie_embeddings") ? c.get_double("tied_embed_lr") : c.get_double("embed_lr");
  s.head_lr = c.get_double("head_lr");
  s.matrix_lr = c.get_double("matrix_lr");
  s.scalar_lr = c.get_double("scalar_lr");
  s.beta1 = c.get_double("beta1");
  s.beta2 = c.get_double("beta2");
  s.adam_eps = c.get_double("adam_eps");
  s.muon_backend_steps = static_cast<int>(c.get_int("muon_backend_steps"));
  s.grad_clip_norm = c.get_double("grad_clip_norm");
  DG_CHECK(s.muon_backend_steps >= 0, "muon_backend_steps must be >= 0");
  return s;
}

Optimizer::Optimizer(const ParamLayout& layout, Backend& backend, Tensor params, Tensor grads, OptimizerSettings settings,
                     dist::Communicator* comm)
    : layout_(layout), backend_(backend), params_(params), grads_(grads), settings_(settings), comm_(comm),
      shards_(MuonShards::plan(layout, comm != nullptr ? comm->world_size() : 1)) {
  DG_CHECK(comm == nullptr || comm->device() == backend.device(),
           "optimizer: the " << comm->name() << " communicator does not take this backend's memory");
  const int64_t n = layout.buffer_elements();
  int64_t largest = 0, workspace = 0;
  for (const MuonShards::Matrix& m : shards_.matrices) {
    const int64_t rows = m.spec->shape[0], cols = m.spec->shape[1], small = std::min(rows, cols);
    largest = std::max(largest, rows * cols);
    workspace = std::max(workspace, 2 * rows * cols + 2 * small * small);
  }
  const int64_t block = shards_.block_elements;
  const int64_t gathered = shards_.world_size > 1 ? shards_.world_size * block : 0;
  const int64_t total = 3 * n + largest + workspace + block + gathered + 64;
  memory_ = backend.allocate(total * 4);
  float* base = static_cast<float*>(memory_);
  auto carve = [&](int64_t count) {
    Tensor t(base, DType::F32, backend.device(), {std::max<int64_t>(count, 1)});
    base += count;
    return t;
  };
  adam_m_ = carve(n);
  adam_v_ = carve(n);
  muon_buffer_ = carve(n);
  muon_update_ = carve(largest);
  ns_workspace_ = carve(workspace);
  muon_block_ = carve(block);
  muon_gathered_ = shards_.world_size > 1 ? carve(gathered) : muon_block_;
}

Optimizer::~Optimizer() { backend_.release(memory_); }

std::vector<Optimizer::StateBuffer> Optimizer::state_buffers() const {
  const int64_t n = layout_.buffer_elements();
  return {{"optimizer.adam_m", adam_m_.slice(0, n)},
          {"optimizer.adam_v", adam_v_.slice(0, n)},
          {"optimizer.muon_momentum", muon_buffer_.slice(0, n)}};
}

double Optimizer::base_lr(OptimGroup group) const {
  switch (group) {
    case OptimGroup::TokenEmbedding: return settings_.token_lr;
    case OptimGroup::Head: return settings_.head_lr;
    case OptimGroup::Matrix: return settings_.matrix_lr;
    case OptimGroup::Scalar: return settings_.scalar_lr;
  }
  return 0.0;
}

void Optimizer::adam_step(const ParamSpec& spec, double lr) {
  const int64_t begin = spec.offset, end = spec.offset + spec.numel();
  AdamHyper hyper;
  hyper.lr = static_cast<float>(lr);
  hyper.beta1 = static_cast<float>(settings_.beta1);
  hyper.beta2 = static_cast<float>(settings_.beta2);
  hyper.eps = static_cast<float>(settings_.adam_eps);
  hyper.step = steps_;
  backend_.adam_update(params_.slice(begin, end), grads_.slice(begin, end), adam_m_.slice(begin, end),
                       adam_v_.slice(begin, end), hyper);
}

void Optimizer::muon_orthogonalise(const MuonShards::Matrix& m, double muon_momentum) {
  // Muon: momentum buffer, Nesterov look-ahead, Newton–Schulz orthogonalisation. Every rank keeps
  // every momentum buffer (one axpy each), so rank 0's checkpoint holds the whole optimizer state
  // and a run resumes on any number of ranks.
  const ParamSpec& spec = *m.spec;
  const int64_t begin = spec.offset, end = spec.offset + spec.numel();
  const int64_t rows = spec.shape[0], cols = spec.shape[1], count = rows * cols;
  const Tensor g = grads_.slice(begin, end);
  const Tensor buffer = muon_buffer_.slice(begin, end);
  backend_.scale(buffer, static_cast<float>(muon_momentum));
  backend_.axpy(buffer, 1.0f, g);
  if (comm_ != nullptr && m.owner != comm_->rank()) return;
  const Tensor update = muon_update_.slice(0, count).view({rows, cols});
  backend_.copy(update, g.view({rows, cols}));
  backend_.axpy(update, static_cast<float>(muon_momentum), buffer.view({rows, cols}));
  const Tensor orthogonal = muon_block_.slice(m.block_offset, m.block_offset + count).view({rows, cols});
  backend_.newton_schulz(orthogonal, update, settings_.muon_backend_steps, ns_workspace_);
}

double Optimizer::step(double lr_mul, double muon_momentum, std::optional<double> grad_norm) {
  ++steps_;
  double norm = grad_norm.value_or(0.0);
  if (settings_.grad_clip_norm > 0.0) {
    // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1.
    if (!grad_norm) norm = std::sqrt(backend_.sum_squares(grads_));
    const double coef = settings_.grad_clip_norm / (norm + 1e-6);
    if (coef < 1.0) backend_.scale(grads_, static_cast<float>(coef));
  }
  for (const ParamSpec& spec : layout_.specs())
    if (spec.group != OptimGroup::Matrix) adam_step(spec, base_lr(spec.group) * lr_mul);
  for (const MuonShards::Matrix& m : shards_.matrices) muon_orthogonalise(m, muon_momentum);
  if (shards_.world_size > 1 && !shards_.matrices.empty()) {
    comm_->all_gather(muon_gathered_, muon_block_);
    comm_->wait();
  }
  // Every rank applies every update, scaled by max(1, rows/cols)^0.5 as the reference implementations do.
  const double lr = base_lr(OptimGroup::Matrix) * lr_mul;
  for (const MuonShards::Matrix& m : shards_.matrices) {
    const ParamSpec& spec = *m.spec;
    const int64_t rows = spec.shape[0], cols = spec.shape[1], at = shards_.gathered_offset(m);
    const double shape_scale = std::sqrt(std::max(1.0, static_cast<double>(rows) / static_cast<double>(cols)));
    const Tensor p = params_.slice(spec.offset, spec.offset + spec.numel()).view({rows, cols});
    backend_.axpy(p, static_cast<float>(-lr * shape_scale), muon_gathered_.slice(at, at + rows * cols).view({rows, cols}));
  }
  return norm;
}

}  // namespace dg
