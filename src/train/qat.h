// Quantization-aware training. From `qat_start_fraction` of training on, every step's forward pass
// reads a fake-quantized copy of the master weights: exactly the weights the artifact will hold
// (per-row / per-tensor ints dequantized with their stored fp16 / fp32 scales, small tensors rounded
// through fp16, keep-fp32 tensors untouched), built with the same quantizer code `pack` uses. The
// backward pass writes its gradients into the master grads as if the copy were the master weights:
// the straight-through estimator. Validation always reads the master weights.
//
// Settings: qat_scope ("none" or "all": every tensor the artifact stores lossily), qat_start_fraction
// (QAT is on once step/iterations, or elapsed/max_wallclock_seconds when that is > 0, reaches it,
// whichever is first), qat_noise (instead of rounding, int tensors get uniform noise of ±scale/2
// around the clipped weight; fp16 tensors are still rounded), plus the artifact_* settings that
// decide the quantizer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "quant/fake_quant.h"
#include "backend/backend.h"
#include "core/config.h"
#include "core/log.h"
#include "core/rng.h"
#include "model/language_model.h"

namespace dg {

struct QatSettings {
  enum class Scope { None, All };
  Scope scope = Scope::None;
  double start_fraction = 0.0;
  bool noise = false;
  uint64_t seed = 0;
  static QatSettings from_config(const Config& config);
};

// Fills `out` (the layout's flat buffer) with the weights the artifact would hold for `master`;
// with `noise`, int tensors use the noisy variant. Alignment padding is copied as is.
void fake_quantize_parameters(const ParamLayout& layout, const quant::QuantPolicy& policy, const float* master,
                              float* out, Rng* noise = nullptr);

class QuantAwareTraining {
 public:
  QuantAwareTraining(const Config& config, Backend& backend, const LanguageModel& model);
  ~QuantAwareTraining();
  QuantAwareTraining(const QuantAwareTraining&) = delete;
  QuantAwareTraining& operator=(const QuantAwareTraining&) = delete;

  bool enabled() const { return settings_.scope != QatSettings::Scope::None; }
  // Whether a step at this point of training uses fake-quantized weights.
  bool active_at(int64_t step, int64_t iterations, double elapsed_ms, double max_wallclock_ms) const;
  // Before a step's forward passes: when active, rebuilds the fake-quantized copy from the current
  // master weights and points the model's forward at it (logging the first time); otherwise points
  // the forward at the master weights. Returns whether QAT is on for this step.
  bool prepare_step(LanguageModel& model, int64_t step, int64_t iterations, double elapsed_ms, double max_wallclock_ms,
                    Logger& log);
  // The forward reads the master weights again (validation, checkpoints).
  void release(LanguageModel& model) const;
  std::string description() const;

  // What a resumed run restores: whether QAT has started (it never stops once on) and the noise draws.
  struct State {
    bool started = false;
    RngState noise;
  };
  State state() const { return {started_, rng_.state()}; }
  void restore(const State& s) {
    started_ = s.started;
    rng_.restore(s.noise);
  }

 private:
  QatSettings settings_;
  quant::QuantPolicy policy_;
  Backend& backend_;
  void* buffer_ = nullptr;
  Tensor weights_;
  std::vector<float> master_host_, quant_host_;
  Rng rng_;
  bool started_ = false;
};

}  // namespace dg
