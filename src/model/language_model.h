// What the trainer and the evaluator need from a model, whatever its architecture.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "backend/backend.h"
#include "core/rng.h"
#include "model/block_observation.h"
#include "model/param_layout.h"

namespace dg {

// Host-side token ids of one batch: rows × seq_len, row-major.
struct ModelBatch {
  const int32_t* inputs = nullptr;
  const int32_t* targets = nullptr;
  int64_t rows = 0;
  int64_t seq_len = 0;
};

class LanguageModel {
 public:
  virtual ~LanguageModel() = default;

  virtual const ParamLayout& layout() const = 0;
  // The flat parameter and gradient buffers (layout().buffer_elements() floats on the backend).
  virtual Tensor params() const = 0;
  virtual Tensor grads() const = 0;
  // The weights the forward pass reads: params() unless pointed elsewhere. QAT points it at a
  // fake-quantized copy (same layout) while gradients still land in grads(): straight-through.
  // An empty tensor restores params().
  virtual void set_forward_weights(const Tensor& weights) = 0;
  // Largest batch (rows of seq_len tokens) the activation arena was planned for.
  virtual int64_t max_rows() const = 0;
  virtual int64_t seq_len() const = 0;

  // Training mode enables train-only randomness (e.g. DART's loop dropout); evaluation never uses it.
  virtual void set_training(bool training) { training_ = training; }
  bool training() const { return training_; }
  // The generator of that randomness (null when the model has none): a resumed run restores it.
  virtual Rng* training_rng() { return nullptr; }
  // How many values one training forward draws from training_rng(). Data-parallel rank r skips the
  // draws of the micro-batches before its own in the global batch (and after, those of the ranks
  // after it), so every micro-batch gets the draw it gets when one process trains them all.
  virtual uint64_t random_draws_per_forward() const { return 0; }

  // Forward pass over the batch; returns the mean cross-entropy of the scored targets (nats).
  virtual double forward(const ModelBatch& batch) = 0;
  // Gradient of (loss_scale × the last forward's mean loss), ADDED into grads().
  virtual void backward(float loss_scale) = 0;
  // Ranges [begin, end) of grads() (in elements) that the running backward() will no longer change,
  // reported the moment they are final, so a data-parallel caller can average them over the ranks
  // while backward computes the rest (train/gradient_reducer.h). Ranges never overlap. A model
  // reports what its structure allows (a GPT block once its backward is done; DART's shared blocks
  // only at the end, so it reports none); the caller reduces what was never reported. Null: none.
  using GradientsFinal = std::function<void(int64_t begin, int64_t end)>;
  void report_final_gradients(GradientsFinal hook) { gradients_final_ = std::move(hook); }
  // Per-target losses (nats) of the last forward, rows × seq_len.
  virtual void token_losses(std::vector<float>& out) = 0;
  // Every pluggable-block use of the last forward (docs/blocks.md); none for a model without blocks.
  // A non-empty `type` (tau_fusion, daam, head_gate) observes only blocks of that type, so a caller
  // that needs one kind (training's τ log) computes and copies nothing else.
  virtual void observe_blocks(std::vector<BlockObservation>& out, std::string_view type = {}) {
    (void)type;
    out.clear();
  }

 protected:
  bool training_ = false;
  GradientsFinal gradients_final_;
};

}  // namespace dg
