// DART, the shared-weight Differential Attention Recurrent Transformer (DESIGN.md §4, docs/dart.md):
// the PR's RLM (preset pr345) and dartgolf's generalisations, forward and hand-written backward
// over the backend ops.
//
//   x0 = [memory ; rmsnorm(tok_emb[ids])] per sequence (S = M + T rows); x = x0
//   for loop l < n, for block b < B (pass p = l·B + b):
//     x = resid_mix[0,l]⊙x + resid_mix[1,l]⊙x0 + loop_embed[l]
//     x += attn_scale[l] ⊙ attention_l(rmsnorm(x));  x += mlp_scale[l] ⊙ mlp(rmsnorm(x))
//   after loop l: U-Net across loops (the first n/2 loops push, the next n/2 add skip_weights[j]⊙skip);
//   head_l = softcap(rmsnorm(x[M:]) · tok_embᵀ); loss_l = mean CE over the T token rows.
// Training loss Σ γ^(n−1−l)·loss_l / Σ γ^(n−1−l) (deep supervision); evaluation scores the last
// loop (eval_loss=last_loop) or that weighted loss (deep_supervision, the PR's way). n = L, except
// that in training with loop_dropout each forward draws n uniformly from [loop_dropout_min_loops, L].
#pragma once

#include <memory>
#include <vector>

#include "backend/arena.h"
#include "core/rng.h"
#include "model/dart_blocks.h"
#include "model/dart_shape.h"
#include "model/language_model.h"
#include "model/param_buffers.h"

namespace dg {

class DartModel final : public LanguageModel {
 public:
  // Plans activations for batches of up to max_rows sequences of seq_len tokens (plus M memory rows).
  DartModel(const DartShape& shape, Backend& backend, int64_t max_rows, int64_t seq_len);
  ~DartModel() override;

  const ParamLayout& layout() const override { return layout_; }
  Tensor params() const override { return buffers_.params(); }
  Tensor grads() const override { return buffers_.grads(); }
  void set_forward_weights(const Tensor& weights) override;
  int64_t max_rows() const override { return max_rows_; }
  int64_t seq_len() const override { return seq_len_; }
  const DartShape& shape() const { return shape_; }

  // In training mode: the deep-supervision training loss (over the loops loop dropout drew).
  // In evaluation mode: the scored loss (eval_loss). token_losses() always gives the scored losses.
  double forward(const ModelBatch& batch) override;
  // Runs exactly `loops` loops (1..L) whatever the mode: what loop dropout trains, and what tests
  // compare against the reference's --loops.
  double forward_loops(const ModelBatch& batch, int64_t loops);
  // Gradient of loss_scale × the training loss of the last forward, ADDED into grads().
  void backward(float loss_scale) override;
  void token_losses(std::vector<float>& out) override;
  void observe_blocks(std::vector<BlockObservation>& out, std::string_view type = {}) override;
  Rng* training_rng() override { return &loop_rng_; }  // loop dropout's draws
  uint64_t random_draws_per_forward() const override { return training() && shape_.loop_dropout ? 1 : 0; }

  int64_t loops_run() const { return loops_; }
  // Per-target losses after loop l of the last forward (computed on demand).
  void loop_token_losses(int64_t loop, std::vector<float>& out);
  // The last loop's logits after the softcap, [rows·T, vocab] (for the PyTorch oracle tests).
  void capped_logits(std::vector<float>& out);

 private:
  struct PassActs;
  struct LoopActs;
  struct GlobalActs;
  struct BlockParams;

  Tensor param(const std::string& name) const;
  Tensor grad(const std::string& name) const;
  BlockParams block_params(int64_t block, bool gradients) const;
  void plan_activations();
  Tensor act(int handle, int64_t count_rows) const;

  // Pass p's input: x0, the previous pass's output, or the previous loop's output.
  Tensor pass_input(int64_t pass) const;
  // x_out, or its gated value with a block_output block.
  Tensor pass_output(int64_t pass) const;
  Tensor loop_output(int64_t loop) const;
  // What the head of `loop` reads: the loop's output, or the fused loops for the last loop with a
  // loop_output block.
  Tensor head_input(int64_t loop) const;
  // The encoder output that loop l's U-Net skip adds (empty when loop l adds none): loop_input's
  // third stream, with its gradient buffer.
  Tensor skip_source(int64_t loop) const;
  Tensor skip_source_grad(int64_t loop) const;
  BlockContext block_context() const;
  void pass_forward(int64_t pass);
  void attention_forward(int64_t pass, const BlockParams& p);
  void pass_backward(int64_t pass, Tensor& dx, Tensor& dx_in);
  void attention_backward(int64_t pass, const BlockParams& p, const BlockParams& dp);
  void head_forward(int64_t loop);
  void head_backward(int64_t loop, float weight, const Tensor& dx);
  double mean_loss(int64_t loop);

  DartShape shape_;
  Backend& backend_;
  ParamLayout layout_;
  ParamBuffers buffers_;
  int64_t max_rows_, seq_len_, full_seq_;
  Arena arena_;
  std::vector<PassActs> passes_;
  std::vector<LoopActs> loops_acts_;
  std::unique_ptr<GlobalActs> global_;
  Rng loop_rng_;
  DartBlocks blocks_;
  int64_t rows_ = 0;   // sequences in the last forward
  int64_t loops_ = 0;  // loops the last forward ran
};

}  // namespace dg
