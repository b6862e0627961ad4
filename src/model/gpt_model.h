// The challenge's baseline model (train_gpt.py's GPT), forward and hand-written backward over the
// backend ops. Names, shapes, initialisation and forward semantics match train_gpt.py exactly;
// see DESIGN.md §3.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "backend/arena.h"
#include "model/gpt_shape.h"
#include "model/language_model.h"
#include "model/param_buffers.h"

namespace dg {

ParamLayout build_gpt_layout(const GptShape& shape);

class GptModel final : public LanguageModel {
 public:
  // Plans activations for batches of up to max_rows sequences of seq_len tokens.
  GptModel(const GptShape& shape, Backend& backend, int64_t max_rows, int64_t seq_len);
  ~GptModel() override;

  const ParamLayout& layout() const override { return layout_; }
  Tensor params() const override { return buffers_.params(); }
  Tensor grads() const override { return buffers_.grads(); }
  void set_forward_weights(const Tensor& weights) override;
  int64_t max_rows() const override { return max_rows_; }
  int64_t seq_len() const override { return seq_len_; }
  const GptShape& shape() const { return shape_; }

  double forward(const ModelBatch& batch) override;
  void backward(float loss_scale) override;
  void token_losses(std::vector<float>& out) override;
  // The last forward's logits after the softcap, [rows·T, vocab] (for the PyTorch oracle tests).
  void capped_logits(std::vector<float>& out);

 private:
  struct LayerActs;
  struct LayerParams;
  Tensor param(const std::string& name) const;
  Tensor grad(const std::string& name) const;
  LayerParams layer_params(int64_t layer, bool gradients) const;
  void plan_activations();
  void block_forward(int64_t layer, int64_t rows);
  void block_backward(int64_t layer, int64_t rows, Tensor& dx, Tensor& dx_in);

  GptShape shape_;
  Backend& backend_;
  ParamLayout layout_;
  ParamBuffers buffers_;
  int64_t max_rows_;
  int64_t seq_len_;
  Arena arena_;
  std::vector<LayerActs> acts_;
  struct GlobalActs;
  std::unique_ptr<GlobalActs> global_;
  int64_t last_rows_ = 0;
  std::vector<float> host_losses_;
  std::vector<std::pair<int64_t, int64_t>> block_ranges_;  // each block's tensors in the flat buffer
};

}  // namespace dg
