// train_gpt.py's optimizer split over the flat parameter buffer: Adam for the token embedding
// (tied_embed_lr, or embed_lr when untied), Adam for an untied head (head_lr), Muon for 2-D block
// matrices (matrix_lr), Adam for vectors, scalars and control tensors (scalar_lr).
// Data-parallel: every rank holds the same averaged gradients and runs Adam and Muon's momentum on
// every tensor; Muon's Newton–Schulz, the expensive part, is sharded (train/muon_shards.h).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "backend/backend.h"
#include "core/config.h"
#include "dist/communicator.h"
#include "model/param_layout.h"
#include "train/muon_shards.h"

namespace dg {

struct OptimizerSettings {
  double token_lr = 0.05, head_lr = 0.008, matrix_lr = 0.04, scalar_lr = 0.04;
  double beta1 = 0.9, beta2 = 0.95, adam_eps = 1e-8;
  int muon_backend_steps = 5;
  double grad_clip_norm = 0.0;
  static OptimizerSettings from_config(const Config& config);
};

class Optimizer {
 public:
  // `comm`: the ranks Muon's orthogonalisation is shared among (null: this process alone).
  Optimizer(const ParamLayout& layout, Backend& backend, Tensor params, Tensor grads, OptimizerSettings settings,
            dist::Communicator* comm = nullptr);
  ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update with every learning rate multiplied by lr_mul (the warmdown) and Muon's momentum
  // set to muon_momentum (its warm-up). Clips the global gradient norm first when grad_clip_norm > 0,
  // using `grad_norm` when the caller already computed it. Returns the gradient norm before
  // clipping when clipping is on (or it was given), else 0.
  double step(double lr_mul, double muon_momentum, std::optional<double> grad_norm = std::nullopt);
  int64_t steps_taken() const { return steps_; }
  double base_lr(OptimGroup group) const;

  // The state a resumed run needs besides the weights: Adam's moments and Muon's momentum, each a
  // flat buffer in the parameter layout's order, and the step count behind Adam's bias correction.
  struct StateBuffer {
    const char* name;  // "optimizer.adam_m", "optimizer.adam_v", "optimizer.muon_momentum"
    Tensor tensor;
  };
  std::vector<StateBuffer> state_buffers() const;
  void set_steps_taken(int64_t steps) { steps_ = steps; }

 private:
  void adam_step(const ParamSpec& spec, double lr);
  // Momentum for every matrix; Nesterov look-ahead and Newton–Schulz for this rank's own, into its block.
  void muon_orthogonalise(const MuonShards::Matrix& m, double muon_momentum);

  const ParamLayout& layout_;
  Backend& backend_;
  Tensor params_, grads_;
  OptimizerSettings settings_;
  dist::Communicator* comm_;
  MuonShards shards_;
  void* memory_ = nullptr;    // Adam m and v, Muon momentum, Muon scratch
  Tensor adam_m_, adam_v_, muon_buffer_, muon_update_, ns_workspace_;
  Tensor muon_block_;     // this rank's orthogonalised updates (MuonShards' block)
  Tensor muon_gathered_;  // every rank's block after the all-gather (muon_block_ itself with one rank)
  int64_t steps_ = 0;
};

}  // namespace dg
