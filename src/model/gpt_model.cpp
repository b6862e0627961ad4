#include "model/gpt_model.h"

#include <cfloat>
#include <cmath>
#include <string>

#include "core/error.h"

namespace dg {
namespace {
// train_gpt.py calls F.rms_norm with eps=None: torch then uses the dtype's machine epsilon.
constexpr float kRmsEps = FLT_EPSILON;

std::string block_name(int64_t layer, const char* suffix) {
  return "blocks." + std::to_string(layer) + "." + suffix;
}
}  // namespace

ParamLayout build_gpt_layout(const GptShape& s) {
  // train_gpt.py's state_dict order: a module's own parameters, then its children's.
  ParamLayout layout;
  const int64_t d = s.model_dim;
  layout.add("skip_weights", {s.num_skip_weights(), d}, OptimGroup::Scalar, InitKind::Constant, 1.0f);
  if (s.tie_embeddings) {
    layout.add("tok_emb.weight", {s.vocab_size, d}, OptimGroup::TokenEmbedding, InitKind::Normal, s.tied_embed_init_std);
  } else {
    layout.add("tok_emb.weight", {s.vocab_size, d}, OptimGroup::TokenEmbedding, InitKind::Normal, 1.0f);
  }
  for (int64_t l = 0; l < s.num_layers; ++l) {
    layout.add(block_name(l, "attn_scale"), {d}, OptimGroup::Scalar, InitKind::Constant, 1.0f);
    layout.add(block_name(l, "mlp_scale"), {d}, OptimGroup::Scalar, InitKind::Constant, 1.0f);
    layout.add(block_name(l, "resid_mix"), {2, d}, OptimGroup::Scalar, InitKind::ResidMix);
    layout.add(block_name(l, "attn.q_gain"), {s.num_heads}, OptimGroup::Scalar, InitKind::Constant, s.qk_gain_init);
    layout.add(block_name(l, "attn.c_q.weight"), {d, d}, OptimGroup::Matrix, InitKind::UniformFanIn);
    layout.add(block_name(l, "attn.c_k.weight"), {s.kv_dim(), d}, OptimGroup::Matrix, InitKind::UniformFanIn);
    layout.add(block_name(l, "attn.c_v.weight"), {s.kv_dim(), d}, OptimGroup::Matrix, InitKind::UniformFanIn);
    layout.add(block_name(l, "attn.proj.weight"), {d, d}, OptimGroup::Matrix, InitKind::Constant, 0.0f);
    layout.add(block_name(l, "mlp.fc.weight"), {s.mlp_hidden, d}, OptimGroup::Matrix, InitKind::UniformFanIn);
    layout.add(block_name(l, "mlp.proj.weight"), {d, s.mlp_hidden}, OptimGroup::Matrix, InitKind::Constant, 0.0f);
  }
  if (!s.tie_embeddings) layout.add("lm_head.weight", {s.vocab_size, d}, OptimGroup::Head, InitKind::Constant, 0.0f);
  return layout;
}

// Saved activations of one block, each [max_rows·T, width] (lse [max_rows, H, T]).
struct GptModel::LayerActs {
  int x_in = -1;  // -1: the input is the previous block's x_out (or x0), no copy
  int x_mix, attn_norm, attn_rstd, q_raw, q_rstd, q_rot, q, k_raw, k_rstd, k, v, attn_out, lse, y_attn, x_attn,
      mlp_norm, mlp_rstd, fc, h, y_mlp, x_out;
};

struct GptModel::LayerParams {
  Tensor attn_scale, mlp_scale, resid_mix, q_gain, c_q, c_k, c_v, proj, fc, mlp_proj;
};

// Batch-wide buffers: inputs, embedding, head, and the gradient scratch reused by every block.
struct GptModel::GlobalActs {
  int inputs, targets, emb, emb_rstd, x0, final_norm, final_rstd, logits, losses;
  int dx, dx_alt, dx0, dy, dnorm, dh, dfc, dattn, dq, dq_rot, dq_raw, dk, dk_raw, dv, dlogits, dfinal, demb;
  std::vector<int> dskip;
};

GptModel::GptModel(const GptShape& shape, Backend& backend, int64_t max_rows, int64_t seq_len)
    : shape_(shape), backend_(backend), layout_(build_gpt_layout(shape)), buffers_(layout_, backend), max_rows_(max_rows), seq_len_(seq_len),
      arena_(backend) {
  DG_CHECK(max_rows > 0 && seq_len > 0, "model: batch rows and sequence length must be positive");
  plan_activations();
  // build_gpt_layout adds a block's tensors one after the other, attn_scale first, mlp.proj last.
  for (int64_t l = 0; l < shape_.num_layers; ++l) {
    const ParamSpec& last = layout_.find(block_name(l, "mlp.proj.weight"));
    block_ranges_.emplace_back(layout_.find(block_name(l, "attn_scale")).offset, last.offset + last.numel());
  }
}

GptModel::~GptModel() = default;

void GptModel::plan_activations() {
  const int64_t N = max_rows_ * seq_len_, D = shape_.model_dim, H = shape_.num_heads, hd = shape_.head_dim;
  const int64_t KV = shape_.kv_dim(), F = shape_.mlp_hidden, V = shape_.vocab_size;
  auto f32 = [&](std::initializer_list<int64_t> dims) { return arena_.reserve(DType::F32, dims); };
  acts_.resize(static_cast<size_t>(shape_.num_layers));
  for (int64_t l = 0; l < shape_.num_layers; ++l) {
    LayerActs& a = acts_[static_cast<size_t>(l)];
    if (l >= shape_.num_encoder_layers() && l - shape_.num_encoder_layers() < shape_.num_skip_weights())
      a.x_in = f32({N, D});  // previous output plus a weighted skip: its own buffer
    a.x_mix = f32({N, D});
    a.attn_norm = f32({N, D});
    a.attn_rstd = f32({N});
    a.q_raw = f32({N, D});
    a.q_rstd = f32({N * H});
    a.q_rot = f32({N, D});
    a.q = f32({N, D});
    a.k_raw = f32({N, KV});
    a.k_rstd = f32({N * shape_.num_kv_heads});
    a.k = f32({N, KV});
    a.v = f32({N, KV});
    a.attn_out = f32({N, D});
    a.lse = f32({max_rows_, H, seq_len_});
    a.y_attn = f32({N, D});
    a.x_attn = f32({N, D});
    a.mlp_norm = f32({N, D});
    a.mlp_rstd = f32({N});
    a.fc = f32({N, F});
    a.h = f32({N, F});
    a.y_mlp = f32({N, D});
    a.x_out = f32({N, D});
  }
  global_ = std::make_unique<GlobalActs>();
  GlobalActs& g = *global_;
  g.inputs = arena_.reserve(DType::I32, {N});
  g.targets = arena_.reserve(DType::I32, {N});
  g.emb = f32({N, D});
  g.emb_rstd = f32({N});
  g.x0 = f32({N, D});
  g.final_norm = f32({N, D});
  g.final_rstd = f32({N});
  g.logits = f32({N, V});
  g.losses = f32({N});
  g.dx = f32({N, D});
  g.dx_alt = f32({N, D});
  g.dx0 = f32({N, D});
  g.dy = f32({N, D});
  g.dnorm = f32({N, D});
  g.dh = f32({N, F});
  g.dfc = f32({N, F});
  g.dattn = f32({N, D});
  g.dq = f32({N, D});
  g.dq_rot = f32({N, D});
  g.dq_raw = f32({N, D});
  g.dk = f32({N, KV});
  g.dk_raw = f32({N, KV});
  g.dv = f32({N, KV});
  g.dlogits = f32({N, V});
  g.dfinal = f32({N, D});
  g.demb = f32({N, D});
  // Indexed by the encoder block whose output a skip carries.
  for (int64_t j = 0; j < shape_.num_encoder_layers(); ++j) g.dskip.push_back(f32({N, D}));
  (void)hd;
  arena_.commit();
}

void GptModel::set_forward_weights(const Tensor& weights) { buffers_.set_forward_weights(weights); }

namespace {
// gpt's matrices are used as [rows, cols] views; vectors stay flat.
Tensor shaped(const Tensor& flat, const ParamSpec& spec) {
  return spec.shape.size() == 2 ? flat.view({spec.shape[0], spec.shape[1]}) : flat;
}
}  // namespace

Tensor GptModel::param(const std::string& name) const { return shaped(buffers_.weight(name), layout_.find(name)); }

Tensor GptModel::grad(const std::string& name) const { return shaped(buffers_.grad(name), layout_.find(name)); }

GptModel::LayerParams GptModel::layer_params(int64_t l, bool gradients) const {
  auto get = [&](const char* suffix) { return gradients ? grad(block_name(l, suffix)) : param(block_name(l, suffix)); };
  return LayerParams{get("attn_scale"), get("mlp_scale"), get("resid_mix"), get("attn.q_gain"),
                     get("attn.c_q.weight"), get("attn.c_k.weight"), get("attn.c_v.weight"),
                     get("attn.proj.weight"), get("mlp.fc.weight"), get("mlp.proj.weight")};
}

namespace {
// First n rows of a [max_n, width] buffer.
Tensor rows_of(const Tensor& t, int64_t n) { return t.slice(0, n); }
Tensor heads_view(const Tensor& t, int64_t rows, int64_t seq, int64_t heads, int64_t head_dim) {
  return t.view({rows, seq, heads, head_dim});
}
}  // namespace

void GptModel::block_forward(int64_t l, int64_t rows) {
  const int64_t T = seq_len_, n = rows * T, H = shape_.num_heads, K = shape_.num_kv_heads, hd = shape_.head_dim;
  const LayerActs& a = acts_[static_cast<size_t>(l)];
  const LayerParams p = layer_params(l, false);
  auto A = [&](int handle) { return rows_of(arena_.get(handle), n); };
  const GlobalActs& g = *global_;

  // Block input: x0 for the first block, else the previous output (+ a weighted U-Net skip).
  Tensor x_in = l == 0 ? A(g.x0) : A(acts_[static_cast<size_t>(l - 1)].x_out);
  if (a.x_in >= 0) {
    const int64_t j = l - shape_.num_encoder_layers();
    const Tensor skip = A(acts_[static_cast<size_t>(shape_.num_encoder_layers() - 1 - j)].x_out);
    backend_.copy(A(a.x_in), x_in);
    x_in = A(a.x_in);
    backend_.add_scaled_forward(x_in, param("skip_weights").slice(j, j + 1).view({shape_.model_dim}), skip);
  }
  backend_.resid_mix_forward(A(a.x_mix), x_in, A(g.x0), p.resid_mix);

  // Attention: QK RMSNorm, then RoPE, then the per-head gain on q.
  backend_.rmsnorm_forward(A(a.attn_norm), A(a.attn_rstd), A(a.x_mix), kRmsEps);
  backend_.matmul(A(a.q_raw), A(a.attn_norm), false, p.c_q, true, 1.0f, 0.0f);
  backend_.matmul(A(a.k_raw), A(a.attn_norm), false, p.c_k, true, 1.0f, 0.0f);
  backend_.matmul(A(a.v), A(a.attn_norm), false, p.c_v, true, 1.0f, 0.0f);
  backend_.rmsnorm_forward(A(a.q_rot).view({n * H, hd}), arena_.get(a.q_rstd).slice(0, n * H),
                           A(a.q_raw).view({n * H, hd}), kRmsEps);
  backend_.rmsnorm_forward(A(a.k).view({n * K, hd}), arena_.get(a.k_rstd).slice(0, n * K),
                           A(a.k_raw).view({n * K, hd}), kRmsEps);
  backend_.rope(heads_view(A(a.q_rot), rows, T, H, hd), shape_.rope_base, 0, false);
  backend_.rope(heads_view(A(a.k), rows, T, K, hd), shape_.rope_base, 0, false);
  backend_.head_scale_forward(heads_view(A(a.q), rows, T, H, hd), heads_view(A(a.q_rot), rows, T, H, hd), p.q_gain);
  backend_.attention_forward(heads_view(A(a.attn_out), rows, T, H, hd), arena_.get(a.lse).slice(0, rows),
                             heads_view(A(a.q), rows, T, H, hd), heads_view(A(a.k), rows, T, K, hd),
                             heads_view(A(a.v), rows, T, K, hd), 1.0f / std::sqrt(static_cast<float>(hd)));
  backend_.matmul(A(a.y_attn), A(a.attn_out), false, p.proj, true, 1.0f, 0.0f);
  backend_.copy(A(a.x_attn), A(a.x_mix));
  backend_.add_scaled_forward(A(a.x_attn), p.attn_scale, A(a.y_attn));

  // MLP: relu², zero-initialised output projection.
  backend_.rmsnorm_forward(A(a.mlp_norm), A(a.mlp_rstd), A(a.x_attn), kRmsEps);
  backend_.matmul(A(a.fc), A(a.mlp_norm), false, p.fc, true, 1.0f, 0.0f);
  backend_.relu2_forward(A(a.h), A(a.fc));
  backend_.matmul(A(a.y_mlp), A(a.h), false, p.mlp_proj, true, 1.0f, 0.0f);
  backend_.copy(A(a.x_out), A(a.x_attn));
  backend_.add_scaled_forward(A(a.x_out), p.mlp_scale, A(a.y_mlp));
}

double GptModel::forward(const ModelBatch& batch) {
  DG_CHECK(batch.seq_len == seq_len_, "model: batch seq_len " << batch.seq_len << " != planned " << seq_len_);
  DG_CHECK(batch.rows > 0 && batch.rows <= max_rows_,
           "model: batch of " << batch.rows << " rows exceeds the planned " << max_rows_);
  const int64_t n = batch.rows * seq_len_;
  for (int64_t i = 0; i < n; ++i) {
    DG_CHECK(batch.inputs[i] >= 0 && batch.inputs[i] < shape_.vocab_size && batch.targets[i] >= 0 &&
                 batch.targets[i] < shape_.vocab_size,
             "token id out of range for vocab_size=" << shape_.vocab_size << " at batch position " << i);
  }
  last_rows_ = batch.rows;
  const GlobalActs& g = *global_;
  auto A = [&](int handle) { return rows_of(arena_.get(handle), n); };
  backend_.copy_from_host(A(g.inputs), batch.inputs);
  backend_.copy_from_host(A(g.targets), batch.targets);

  backend_.embedding_forward(A(g.emb), param("tok_emb.weight"), A(g.inputs));
  backend_.rmsnorm_forward(A(g.x0), A(g.emb_rstd), A(g.emb), kRmsEps);
  for (int64_t l = 0; l < shape_.num_layers; ++l) block_forward(l, batch.rows);

  const Tensor x_last = A(acts_.back().x_out);
  backend_.rmsnorm_forward(A(g.final_norm), A(g.final_rstd), x_last, kRmsEps);
  const Tensor head = shape_.tie_embeddings ? param("tok_emb.weight") : param("lm_head.weight");
  backend_.matmul(A(g.logits), A(g.final_norm), false, head, true, 1.0f, 0.0f);
  backend_.softcap_ce_forward(A(g.losses), A(g.logits), A(g.targets), shape_.logit_softcap);

  token_losses(host_losses_);  // reuses its capacity: no allocation in a training step
  double sum = 0.0;
  for (float x : host_losses_) sum += x;
  return sum / static_cast<double>(n);
}

void GptModel::token_losses(std::vector<float>& out) {
  const int64_t n = last_rows_ * seq_len_;
  out.resize(static_cast<size_t>(n));
  backend_.copy_to_host(out.data(), rows_of(arena_.get(global_->losses), n));
}

void GptModel::capped_logits(std::vector<float>& out) {
  const int64_t n = last_rows_ * seq_len_;
  out.resize(static_cast<size_t>(n * shape_.vocab_size));
  backend_.copy_to_host(out.data(), rows_of(arena_.get(global_->logits), n));
  const float cap = shape_.logit_softcap;
  for (float& z : out) z = cap * std::tanh(z / cap);
}

void GptModel::block_backward(int64_t l, int64_t rows, Tensor& dx, Tensor& dx_in) {
  const int64_t T = seq_len_, n = rows * T, H = shape_.num_heads, K = shape_.num_kv_heads, hd = shape_.head_dim;
  const LayerActs& a = acts_[static_cast<size_t>(l)];
  const LayerParams p = layer_params(l, false);
  const LayerParams dp = layer_params(l, true);
  const GlobalActs& g = *global_;
  auto A = [&](int handle) { return rows_of(arena_.get(handle), n); };
  const Tensor dy = A(g.dy), dnorm = A(g.dnorm), dh = A(g.dh), dfc = A(g.dfc), dattn = A(g.dattn);
  const Tensor dq = A(g.dq), dq_rot = A(g.dq_rot), dq_raw = A(g.dq_raw), dk = A(g.dk), dk_raw = A(g.dk_raw),
               dv = A(g.dv);

  // x_out = x_attn + mlp_scale ⊙ mlp(rmsnorm(x_attn)); dx flows straight through the residual.
  backend_.fill(dy, 0.0f);
  backend_.add_scaled_backward(dy, dp.mlp_scale, dx, p.mlp_scale, A(a.y_mlp));
  backend_.matmul(dh, dy, false, p.mlp_proj, false, 1.0f, 0.0f);
  backend_.matmul(dp.mlp_proj, dy, true, A(a.h), false, 1.0f, 1.0f);
  backend_.fill(dfc, 0.0f);
  backend_.relu2_backward(dfc, dh, A(a.fc));
  backend_.matmul(dnorm, dfc, false, p.fc, false, 1.0f, 0.0f);
  backend_.matmul(dp.fc, dfc, true, A(a.mlp_norm), false, 1.0f, 1.0f);
  backend_.rmsnorm_backward(dx, dnorm, A(a.x_attn), A(a.mlp_rstd));

  // x_attn = x_mix + attn_scale ⊙ proj(attention(...)).
  backend_.fill(dy, 0.0f);
  backend_.add_scaled_backward(dy, dp.attn_scale, dx, p.attn_scale, A(a.y_attn));
  backend_.matmul(dattn, dy, false, p.proj, false, 1.0f, 0.0f);
  backend_.matmul(dp.proj, dy, true, A(a.attn_out), false, 1.0f, 1.0f);
  backend_.fill(dq, 0.0f);
  backend_.fill(dk, 0.0f);
  backend_.fill(dv, 0.0f);
  backend_.attention_backward(heads_view(dq, rows, T, H, hd), heads_view(dk, rows, T, K, hd),
                              heads_view(dv, rows, T, K, hd), heads_view(dattn, rows, T, H, hd),
                              heads_view(A(a.q), rows, T, H, hd), heads_view(A(a.k), rows, T, K, hd),
                              heads_view(A(a.v), rows, T, K, hd), heads_view(A(a.attn_out), rows, T, H, hd),
                              arena_.get(a.lse).slice(0, rows), 1.0f / std::sqrt(static_cast<float>(hd)));
  backend_.fill(dq_rot, 0.0f);
  backend_.head_scale_backward(heads_view(dq_rot, rows, T, H, hd), dp.q_gain, heads_view(dq, rows, T, H, hd),
                               heads_view(A(a.q_rot), rows, T, H, hd), p.q_gain);
  backend_.rope(heads_view(dq_rot, rows, T, H, hd), shape_.rope_base, 0, true);
  backend_.rope(heads_view(dk, rows, T, K, hd), shape_.rope_base, 0, true);
  backend_.fill(dq_raw, 0.0f);
  backend_.fill(dk_raw, 0.0f);
  backend_.rmsnorm_backward(dq_raw.view({n * H, hd}), dq_rot.view({n * H, hd}), A(a.q_raw).view({n * H, hd}),
                            arena_.get(a.q_rstd).slice(0, n * H));
  backend_.rmsnorm_backward(dk_raw.view({n * K, hd}), dk.view({n * K, hd}), A(a.k_raw).view({n * K, hd}),
                            arena_.get(a.k_rstd).slice(0, n * K));
  backend_.matmul(dnorm, dq_raw, false, p.c_q, false, 1.0f, 0.0f);
  backend_.matmul(dnorm, dk_raw, false, p.c_k, false, 1.0f, 1.0f);
  backend_.matmul(dnorm, dv, false, p.c_v, false, 1.0f, 1.0f);
  backend_.matmul(dp.c_q, dq_raw, true, A(a.attn_norm), false, 1.0f, 1.0f);
  backend_.matmul(dp.c_k, dk_raw, true, A(a.attn_norm), false, 1.0f, 1.0f);
  backend_.matmul(dp.c_v, dv, true, A(a.attn_norm), false, 1.0f, 1.0f);
  backend_.rmsnorm_backward(dx, dnorm, A(a.x_mix), A(a.attn_rstd));

  // x_mix = resid_mix[0] ⊙ x_in + resid_mix[1] ⊙ x0.
  const Tensor x_in = a.x_in >= 0 ? A(a.x_in) : (l == 0 ? A(g.x0) : A(acts_[static_cast<size_t>(l - 1)].x_out));
  backend_.fill(dx_in, 0.0f);
  backend_.resid_mix_backward(dx_in, A(g.dx0), dp.resid_mix, dx, x_in, A(g.x0), p.resid_mix);
  if (a.x_in >= 0) {
    // x_in = previous output + skip_weights[j] ⊙ (output of encoder block enc−1−j).
    const int64_t j = l - shape_.num_encoder_layers();
    const int64_t source = shape_.num_encoder_layers() - 1 - j;
    const Tensor sw = param("skip_weights").slice(j, j + 1).view({shape_.model_dim});
    const Tensor dsw = grad("skip_weights").slice(j, j + 1).view({shape_.model_dim});
    backend_.add_scaled_backward(A(g.dskip[static_cast<size_t>(source)]), dsw, dx_in, sw,
                                 A(acts_[static_cast<size_t>(source)].x_out));
  }
}

void GptModel::backward(float loss_scale) {
  DG_CHECK(last_rows_ > 0, "model: backward before forward");
  const int64_t rows = last_rows_, n = rows * seq_len_;
  const GlobalActs& g = *global_;
  auto A = [&](int handle) { return rows_of(arena_.get(handle), n); };

  // Head: mean cross-entropy of softcapped logits, tied (or separate) output matrix.
  const Tensor dlogits = A(g.dlogits);
  backend_.fill(dlogits, 0.0f);
  backend_.softcap_ce_backward(dlogits, A(g.logits), A(g.targets), shape_.logit_softcap,
                               loss_scale / static_cast<float>(n));
  const bool tied = shape_.tie_embeddings;
  const Tensor head = tied ? param("tok_emb.weight") : param("lm_head.weight");
  const Tensor dhead = tied ? grad("tok_emb.weight") : grad("lm_head.weight");
  backend_.matmul(A(g.dfinal), dlogits, false, head, false, 1.0f, 0.0f);
  backend_.matmul(dhead, dlogits, true, A(g.final_norm), false, 1.0f, 1.0f);

  Tensor dx = A(g.dx), dx_in = A(g.dx_alt);
  backend_.fill(dx, 0.0f);
  backend_.fill(A(g.dx0), 0.0f);
  for (int skip : g.dskip) backend_.fill(A(skip), 0.0f);
  backend_.rmsnorm_backward(dx, A(g.dfinal), A(acts_.back().x_out), A(g.final_rstd));

  for (int64_t l = shape_.num_layers - 1; l >= 0; --l) {
    // An encoder block's output also fed a decoder block through a skip.
    const int64_t enc = shape_.num_encoder_layers();
    if (l < enc && l >= enc - shape_.num_skip_weights()) backend_.axpy(dx, 1.0f, A(g.dskip[static_cast<size_t>(l)]));
    block_backward(l, rows, dx, dx_in);
    // Nothing below block l touches its weights: their gradients can be averaged already.
    if (gradients_final_) gradients_final_(block_ranges_[static_cast<size_t>(l)].first, block_ranges_[static_cast<size_t>(l)].second);
    std::swap(dx, dx_in);
  }
  // dx is now the gradient of the first block's input, x0 itself.
  backend_.axpy(A(g.dx0), 1.0f, dx);
  backend_.fill(A(g.demb), 0.0f);
  backend_.rmsnorm_backward(A(g.demb), A(g.dx0), A(g.emb), A(g.emb_rstd));
  backend_.embedding_backward(grad("tok_emb.weight"), A(g.demb), A(g.inputs));
}

}  // namespace dg
