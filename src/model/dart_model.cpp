// DART's model-level graph: activation planning, the loop schedule (passes, U-Net across loops,
// deep-supervision heads, loop dropout) and its backward. One pass (a block at a loop) is in
// dart_block.cpp, its attention in dart_attention.cpp.
#include "model/dart_model.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "model/dart_internal.h"
#include "model/dart_layout.h"

namespace dg {

DartModel::DartModel(const DartShape& shape, Backend& backend, int64_t max_rows, int64_t seq_len)
    : shape_(shape),
      backend_(backend),
      layout_(build_dart_layout(shape)),
      buffers_(layout_, backend),
      max_rows_(max_rows),
      seq_len_(seq_len),
      full_seq_(seq_len + shape.num_memory_tokens),
      arena_(backend),
      loop_rng_(shape.seed ^ 0x6c6f6f70u),  // "loop": a stream of its own, apart from the init's
      blocks_(shape) {
  DG_CHECK(max_rows > 0 && seq_len > 0, "model: batch rows and sequence length must be positive");
  blocks_.bind(layout_);
  plan_activations();
}

DartModel::~DartModel() = default;

void DartModel::plan_activations() {
  const DartShape& s = shape_;
  const int64_t R = max_rows_, N = R * full_seq_, Nt = R * seq_len_, D = s.model_dim, H = s.num_heads;
  const int64_t F = s.mlp_hidden, V = s.vocab_size;
  auto f32 = [&](std::initializer_list<int64_t> dims) { return arena_.reserve(DType::F32, dims); };
  passes_.resize(static_cast<size_t>(s.num_passes()));
  for (PassActs& a : passes_) {
    a.mix_params = f32({2, D});
    a.x_mix = f32({N, D});
    a.attn_norm = f32({N, D});
    a.attn_rstd = f32({N});
    if (s.separate_wq()) a.w_used = f32({s.q_width(), D});
    a.q_raw = f32({N, s.q_width()});
    a.q_rstd = f32({N * s.q_heads()});
    a.q_rot = f32({N, s.q_width()});
    a.q = f32({N, s.q_width()});
    a.k_raw = f32({N, s.k_width()});
    a.k_rstd = f32({N * s.k_heads()});
    a.k = f32({N, s.k_width()});
    a.v = f32({N, s.v_width()});
    if (!s.diff_v2()) {
      a.v_ext = f32({N, s.k_width()});
      a.gain_ext = f32({s.q_heads()});
      a.lam = f32({H});
    } else {
      a.lam_pre = f32({N, H});
      a.lam = f32({N, H});
    }
    a.att = f32({N, s.q_width()});
    a.lse = f32({R, s.q_heads(), full_seq_});
    a.comb = f32({N, D});
    a.y_attn = f32({N, D});
    a.x_attn = f32({N, D});
    a.mlp_norm = f32({N, D});
    a.mlp_rstd = f32({N});
    a.fc = f32({N, F});
    a.h = f32({N, F});
    a.y_mlp = f32({N, D});
    a.x_out = f32({N, D});
  }
  loops_acts_.resize(static_cast<size_t>(s.num_loops));
  for (size_t l = 0; l < loops_acts_.size(); ++l) {
    LoopActs& a = loops_acts_[l];
    // Loop 0 never adds a skip; any later loop may, for some number of loops loop dropout draws.
    if (l > 0) a.x_skip = f32({N, D});
    a.tok_x = f32({Nt, D});
    a.final_norm = f32({Nt, D});
    a.final_rstd = f32({Nt});
    a.logits = f32({Nt, V});
    a.losses = f32({Nt});
  }
  global_ = std::make_unique<GlobalActs>();
  GlobalActs& g = *global_;
  g.inputs = arena_.reserve(DType::I32, {Nt});
  g.targets = arena_.reserve(DType::I32, {Nt});
  g.emb = f32({Nt, D});
  g.emb_rstd = f32({Nt});
  g.tok = f32({Nt, D});
  g.x0 = f32({N, D});
  g.dx = f32({N, D});
  g.dx_alt = f32({N, D});
  g.dx0 = f32({N, D});
  g.dy = f32({N, D});
  g.dnorm = f32({N, D});
  g.dh = f32({N, F});
  g.dfc = f32({N, F});
  g.dcomb = f32({N, D});
  g.datt = f32({N, s.q_width()});
  g.dq = f32({N, s.q_width()});
  g.dq_rot = f32({N, s.q_width()});
  g.dq_raw = f32({N, s.q_width()});
  g.dk = f32({N, s.k_width()});
  g.dk_raw = f32({N, s.k_width()});
  g.dv_att = f32({N, s.k_width()});
  g.dv = f32({N, s.v_width()});
  g.dlam = f32({N, H});
  g.dlam_pre = f32({N, H});
  g.dgain_ext = f32({s.q_heads()});
  g.dmix = f32({2, D});
  g.dw = f32({s.q_width(), D});
  g.dlogits = f32({Nt, V});
  g.dfinal = f32({Nt, D});
  g.dtok_x = f32({Nt, D});
  g.dtok = f32({Nt, D});
  g.demb = f32({Nt, D});
  for (int64_t l = 0; l < DartShape::encoder_loops(s.num_loops); ++l) g.dskip.push_back(f32({N, D}));
  if (blocks_.has_attn_output() || blocks_.has_mlp_input() || blocks_.has_block_output()) g.dblock = f32({N, D});
  if (blocks_.has_loop_output()) {
    g.dfused = f32({N, D});
    for (int64_t l = 0; l < s.num_loops; ++l) g.dloop.push_back(f32({N, D}));
  }
  blocks_.plan(arena_, N);
  arena_.commit();
}

void DartModel::set_forward_weights(const Tensor& weights) { buffers_.set_forward_weights(weights); }

Tensor DartModel::param(const std::string& name) const { return buffers_.weight(name); }

Tensor DartModel::grad(const std::string& name) const { return buffers_.grad(name); }

DartModel::BlockParams DartModel::block_params(int64_t block, bool gradients) const {
  const std::string prefix = dart_block_prefix(shape_, block);
  auto get = [&](const char* suffix) {
    const std::string name = prefix + suffix;
    return gradients ? grad(name) : param(name);
  };
  BlockParams p;
  p.attn_scale = get("attn_scale");
  p.mlp_scale = get("mlp_scale");
  if (!blocks_.has_loop_input()) p.resid_mix = get("resid_mix");
  p.q_gain = get("attn.q_gain");
  if (!shape_.diff_v2()) {
    p.lambda_q1 = get("attn.lambda_q1");
    p.lambda_k1 = get("attn.lambda_k1");
    p.lambda_q2 = get("attn.lambda_q2");
    p.lambda_k2 = get("attn.lambda_k2");
  } else {
    p.lambda_proj = get("attn.lambda_proj.weight");
  }
  p.delta_a = get("attn.delta_A");
  p.delta_b = get("attn.delta_B");
  p.c_q = get("attn.c_q.weight");
  p.c_k = get("attn.c_k.weight");
  p.c_v = get("attn.c_v.weight");
  p.proj = get("attn.proj.weight");
  p.fc = get("mlp.fc.weight");
  p.mlp_proj = get("mlp.proj.weight");
  p.loop_embed = get("loop_embed.weight");
  return p;
}

Tensor DartModel::act(int handle, int64_t count_rows) const { return arena_.get(handle).slice(0, count_rows); }

Tensor DartModel::loop_output(int64_t loop) const {
  const LoopActs& a = loops_acts_[static_cast<size_t>(loop)];
  const int64_t enc = DartShape::encoder_loops(loops_);
  const bool skip_added = loop >= enc && loop - enc < DartShape::skip_count(loops_);
  const int64_t n = rows_ * full_seq_;
  if (skip_added) return act(a.x_skip, n);
  return pass_output(loop * shape_.num_unique_blocks + shape_.num_unique_blocks - 1);
}

Tensor DartModel::pass_output(int64_t pass) const {
  const int64_t n = rows_ * full_seq_;
  if (blocks_.has_block_output()) return blocks_.block_output_value(arena_, pass, n);
  return act(passes_[static_cast<size_t>(pass)].x_out, n);
}

Tensor DartModel::head_input(int64_t loop) const {
  if (blocks_.has_loop_output() && loop == loops_ - 1) return blocks_.loop_output_value(arena_, rows_ * full_seq_);
  return loop_output(loop);
}

Tensor DartModel::skip_source(int64_t loop) const {
  const int64_t enc = DartShape::encoder_loops(loops_), j = loop - enc;
  if (loop < enc || j >= DartShape::skip_count(loops_)) return Tensor();
  return loop_output(enc - 1 - j);
}

Tensor DartModel::skip_source_grad(int64_t loop) const {
  const int64_t enc = DartShape::encoder_loops(loops_), j = loop - enc;
  if (loop < enc || j >= DartShape::skip_count(loops_)) return Tensor();
  return act(global_->dskip[static_cast<size_t>(enc - 1 - j)], rows_ * full_seq_);
}

BlockContext DartModel::block_context() const {
  return BlockContext{backend_, arena_, buffers_.forward_weights(), buffers_.grads(), rows_ * full_seq_};
}

Tensor DartModel::pass_input(int64_t pass) const {
  const int64_t n = rows_ * full_seq_;
  if (pass == 0) return act(global_->x0, n);
  const int64_t B = shape_.num_unique_blocks;
  if (pass % B == 0) return loop_output(pass / B - 1);
  return pass_output(pass - 1);
}

double DartModel::forward(const ModelBatch& batch) {
  int64_t loops = shape_.num_loops;
  if (training() && shape_.loop_dropout) {
    const int64_t lo = shape_.loop_dropout_min_loops;
    loops = lo + static_cast<int64_t>(loop_rng_.below(static_cast<uint64_t>(shape_.num_loops - lo + 1)));
  }
  return forward_loops(batch, loops);
}

double DartModel::forward_loops(const ModelBatch& batch, int64_t loops) {
  DG_CHECK(batch.seq_len == seq_len_, "model: batch seq_len " << batch.seq_len << " != planned " << seq_len_);
  DG_CHECK(batch.rows > 0 && batch.rows <= max_rows_,
           "model: batch of " << batch.rows << " rows exceeds the planned " << max_rows_);
  DG_CHECK(loops >= 1 && loops <= shape_.num_loops, "model: loops=" << loops << " outside 1..num_loops=" << shape_.num_loops);
  const int64_t nt = batch.rows * seq_len_;
  for (int64_t i = 0; i < nt; ++i) {
    DG_CHECK(batch.inputs[i] >= 0 && batch.inputs[i] < shape_.vocab_size && batch.targets[i] >= 0 &&
                 batch.targets[i] < shape_.vocab_size,
             "token id out of range for vocab_size=" << shape_.vocab_size << " at batch position " << i);
  }
  rows_ = batch.rows;
  loops_ = loops;
  const GlobalActs& g = *global_;
  const int64_t D = shape_.model_dim, M = shape_.num_memory_tokens;
  backend_.copy_from_host(act(g.inputs, nt), batch.inputs);
  backend_.copy_from_host(act(g.targets, nt), batch.targets);

  // x0 = [memory ; rmsnorm(embedding)] per sequence: the memory rows are not normalised (the PR's).
  backend_.embedding_forward(act(g.emb, nt), param("tok_emb.weight").view({shape_.vocab_size, D}), act(g.inputs, nt));
  backend_.rmsnorm_forward(act(g.tok, nt), act(g.emb_rstd, nt), act(g.emb, nt), kDartRmsEps);
  backend_.memory_concat_forward(act(g.x0, rows_ * full_seq_).view({rows_, full_seq_, D}), param("memory").view({M, D}),
                                 act(g.tok, nt).view({rows_, seq_len_, D}));

  for (LoopActs& a : loops_acts_) a.head_done = false;
  const int64_t B = shape_.num_unique_blocks, enc = DartShape::encoder_loops(loops);
  for (int64_t l = 0; l < loops; ++l) {
    for (int64_t b = 0; b < B; ++b) pass_forward(l * B + b);
    const int64_t j = l - enc;
    if (l >= enc && j < DartShape::skip_count(loops)) {
      // U-Net across loops: the decoder loop's output plus skip_weights[j] ⊙ (encoder loop enc−1−j's output).
      const int64_t n = rows_ * full_seq_;
      const Tensor x = act(loops_acts_[static_cast<size_t>(l)].x_skip, n);
      backend_.copy(x, pass_output(l * B + B - 1));
      backend_.add_scaled_forward(x, param("skip_weights").slice(j * D, (j + 1) * D), loop_output(enc - 1 - j));
    }
  }

  if (blocks_.has_loop_output()) {
    // The fusion's L streams: loop i's output, loops not run repeating the last one that was.
    std::vector<Tensor> outputs;
    for (int64_t i = 0; i < shape_.num_loops; ++i) outputs.push_back(loop_output(std::min(i, loops - 1)));
    blocks_.loop_output_forward(block_context(), outputs);
  }

  // Only the heads the returned loss needs run now; backward computes any other it needs.
  if (!training() && shape_.eval_loss == DartShape::EvalLoss::LastLoop) return mean_loss(loops - 1);
  const std::vector<double> weights = shape_.loop_weights(loops);
  double loss = 0.0;
  for (int64_t l = 0; l < loops; ++l)
    if (weights[static_cast<size_t>(l)] > 0.0) loss += weights[static_cast<size_t>(l)] * mean_loss(l);
  return loss;
}

void DartModel::head_forward(int64_t loop) {
  LoopActs& a = loops_acts_[static_cast<size_t>(loop)];
  if (a.head_done) return;
  const int64_t nt = rows_ * seq_len_, D = shape_.model_dim;
  // Only the T token rows of each sequence are scored: the memory rows never reach the head.
  backend_.token_rows_forward(act(a.tok_x, nt).view({rows_, seq_len_, D}), head_input(loop).view({rows_, full_seq_, D}));
  backend_.rmsnorm_forward(act(a.final_norm, nt), act(a.final_rstd, nt), act(a.tok_x, nt), kDartRmsEps);
  backend_.matmul(act(a.logits, nt), act(a.final_norm, nt), false, param("tok_emb.weight").view({shape_.vocab_size, D}),
                  true, 1.0f, 0.0f);
  backend_.softcap_ce_forward(act(a.losses, nt), act(a.logits, nt), act(global_->targets, nt), shape_.logit_softcap);
  a.head_done = true;
}

double DartModel::mean_loss(int64_t loop) {
  std::vector<float> losses;
  loop_token_losses(loop, losses);
  double sum = 0.0;
  for (float x : losses) sum += x;
  return sum / static_cast<double>(losses.size());
}

void DartModel::loop_token_losses(int64_t loop, std::vector<float>& out) {
  DG_CHECK(rows_ > 0, "model: losses before forward");
  DG_CHECK(loop >= 0 && loop < loops_, "model: loop " << loop << " was not run (the last forward ran " << loops_ << ")");
  head_forward(loop);
  const int64_t nt = rows_ * seq_len_;
  out.resize(static_cast<size_t>(nt));
  backend_.copy_to_host(out.data(), act(loops_acts_[static_cast<size_t>(loop)].losses, nt));
}

void DartModel::token_losses(std::vector<float>& out) {
  if (shape_.eval_loss == DartShape::EvalLoss::LastLoop) {
    loop_token_losses(loops_ - 1, out);
    return;
  }
  // The PR's score: each target's loss weighted over the loops as in the training loss.
  const std::vector<double> weights = shape_.loop_weights(loops_);
  std::vector<double> total;
  std::vector<float> losses;
  for (int64_t l = 0; l < loops_; ++l) {
    if (weights[static_cast<size_t>(l)] == 0.0) continue;
    loop_token_losses(l, losses);
    total.resize(losses.size(), 0.0);
    for (size_t i = 0; i < losses.size(); ++i) total[i] += weights[static_cast<size_t>(l)] * losses[i];
  }
  out.assign(total.begin(), total.end());
}

void DartModel::capped_logits(std::vector<float>& out) {
  head_forward(loops_ - 1);
  const int64_t nt = rows_ * seq_len_;
  out.resize(static_cast<size_t>(nt * shape_.vocab_size));
  backend_.copy_to_host(out.data(), act(loops_acts_[static_cast<size_t>(loops_ - 1)].logits, nt));
  const float cap = shape_.logit_softcap;
  for (float& z : out) z = cap * std::tanh(z / cap);
}

void DartModel::head_backward(int64_t loop, float weight, const Tensor& dx) {
  head_forward(loop);  // a head the forward did not need (evaluation scored another loop)
  const LoopActs& a = loops_acts_[static_cast<size_t>(loop)];
  const GlobalActs& g = *global_;
  const int64_t nt = rows_ * seq_len_, D = shape_.model_dim;
  const Tensor dlogits = act(g.dlogits, nt), dtok_x = act(g.dtok_x, nt);
  const Tensor table = param("tok_emb.weight").view({shape_.vocab_size, D});
  backend_.fill(dlogits, 0.0f);
  backend_.softcap_ce_backward(dlogits, act(a.logits, nt), act(g.targets, nt), shape_.logit_softcap, weight);
  backend_.matmul(act(g.dfinal, nt), dlogits, false, table, false, 1.0f, 0.0f);
  backend_.matmul(grad("tok_emb.weight").view({shape_.vocab_size, D}), dlogits, true, act(a.final_norm, nt), false, 1.0f,
                  1.0f);
  backend_.fill(dtok_x, 0.0f);
  backend_.rmsnorm_backward(dtok_x, act(g.dfinal, nt), act(a.tok_x, nt), act(a.final_rstd, nt));
  backend_.token_rows_backward(dx.view({rows_, full_seq_, D}), dtok_x.view({rows_, seq_len_, D}));
}

void DartModel::backward(float loss_scale) {
  DG_CHECK(rows_ > 0, "model: backward before forward");
  const GlobalActs& g = *global_;
  const int64_t n = rows_ * full_seq_, nt = rows_ * seq_len_, D = shape_.model_dim, M = shape_.num_memory_tokens;
  const int64_t B = shape_.num_unique_blocks, loops = loops_, enc = DartShape::encoder_loops(loops);
  const std::vector<double> weights = shape_.loop_weights(loops);

  Tensor dx = act(g.dx, n), dx_in = act(g.dx_alt, n);
  backend_.fill(dx, 0.0f);
  backend_.fill(act(g.dx0, n), 0.0f);
  for (int64_t l = 0; l < enc; ++l) backend_.fill(act(g.dskip[static_cast<size_t>(l)], n), 0.0f);
  const bool fused = blocks_.has_loop_output();
  if (fused) {
    // The last head reads the fused loops: its gradient reaches every loop's output through the fusion.
    const Tensor dfused = act(g.dfused, n);
    backend_.fill(dfused, 0.0f);
    head_backward(loops - 1, static_cast<float>(loss_scale * weights.back() / static_cast<double>(nt)), dfused);
    std::vector<Tensor> outputs, doutputs;
    for (int64_t l = 0; l < shape_.num_loops; ++l) {
      backend_.fill(act(g.dloop[static_cast<size_t>(l)], n), 0.0f);
      outputs.push_back(loop_output(std::min(l, loops - 1)));
      doutputs.push_back(act(g.dloop[static_cast<size_t>(std::min(l, loops - 1))], n));
    }
    blocks_.loop_output_backward(block_context(), outputs, doutputs, dfused);
  }

  for (int64_t l = loops - 1; l >= 0; --l) {
    // dx holds the gradient of loop l's output from the loops after it; add its own head's.
    const double w = weights[static_cast<size_t>(l)];
    if (fused) backend_.axpy(dx, 1.0f, act(g.dloop[static_cast<size_t>(l)], n));
    if (w > 0.0 && !(fused && l == loops - 1))
      head_backward(l, static_cast<float>(loss_scale * w / static_cast<double>(nt)), dx);
    if (l < enc) backend_.axpy(dx, 1.0f, act(g.dskip[static_cast<size_t>(l)], n));
    const int64_t j = l - enc;
    if (l >= enc && j < DartShape::skip_count(loops)) {
      const int64_t source = enc - 1 - j;
      backend_.add_scaled_backward(act(g.dskip[static_cast<size_t>(source)], n), grad("skip_weights").slice(j * D, (j + 1) * D),
                                   dx, param("skip_weights").slice(j * D, (j + 1) * D), loop_output(source));
    }
    for (int64_t b = B - 1; b >= 0; --b) {
      pass_backward(l * B + b, dx, dx_in);
      std::swap(dx, dx_in);
    }
  }
  // dx is now the gradient of the first pass's input, x0 itself.
  backend_.axpy(act(g.dx0, n), 1.0f, dx);
  const Tensor dtok = act(g.dtok, nt), demb = act(g.demb, nt);
  backend_.fill(dtok, 0.0f);
  backend_.memory_concat_backward(grad("memory").view({M, D}), dtok.view({rows_, seq_len_, D}),
                                  act(g.dx0, n).view({rows_, full_seq_, D}));
  backend_.fill(demb, 0.0f);
  backend_.rmsnorm_backward(demb, dtok, act(g.emb, nt), act(g.emb_rstd, nt));
  backend_.embedding_backward(grad("tok_emb.weight").view({shape_.vocab_size, D}), demb, act(g.inputs, nt));
}

void DartModel::observe_blocks(std::vector<BlockObservation>& out, std::string_view type) {
  out.clear();
  if (!blocks_.any() || rows_ == 0) return;
  blocks_.observe(block_context(), loops_, rows_, type, out);
}

}  // namespace dg
