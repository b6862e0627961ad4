#include "train/qat.h"

#include <algorithm>

#include "core/error.h"

namespace dg {

QatSettings QatSettings::from_config(const Config& config) {
  QatSettings s;
  const std::string scope = config.get_string("qat_scope");
  if (scope == "none") s.scope = QatSettings::Scope::None;
  else if (scope == "all") s.scope = QatSettings::Scope::All;
  else DG_THROW("qat_scope='" << scope << "' is not valid: use none or all (every tensor the artifact quantizes)");
  s.start_fraction = config.get_double("qat_start_fraction");
  DG_CHECK(s.start_fraction >= 0.0 && s.start_fraction <= 1.0,
           "qat_start_fraction=" << s.start_fraction << " must be in [0, 1]");
  s.noise = config.get_bool("qat_noise");
  s.seed = static_cast<uint64_t>(config.get_int("seed"));
  return s;
}

void fake_quantize_parameters(const ParamLayout& layout, const quant::QuantPolicy& policy, const float* master,
                              float* out, Rng* noise) {
  std::copy(master, master + layout.buffer_elements(), out);
  for (const ParamSpec& spec : layout.specs())
    quant::fake_quantize_tensor(spec.name, spec.shape, master + spec.offset, policy, out + spec.offset, noise);
}

QuantAwareTraining::QuantAwareTraining(const Config& config, Backend& backend, const LanguageModel& model)
    : settings_(QatSettings::from_config(config)),
      policy_(quant::QuantPolicy::from_config(config)),
      backend_(backend),
      rng_(settings_.seed ^ 0x51A7C0DEull) {
  if (!enabled()) return;
  const int64_t n = model.layout().buffer_elements();
  buffer_ = backend_.allocate(n * 4);
  weights_ = Tensor(buffer_, DType::F32, backend_.device(), {n});
  master_host_.resize(static_cast<size_t>(n));
  quant_host_.resize(static_cast<size_t>(n));
}

QuantAwareTraining::~QuantAwareTraining() {
  if (buffer_) backend_.release(buffer_);
}

bool QuantAwareTraining::active_at(int64_t step, int64_t iterations, double elapsed_ms, double max_wallclock_ms) const {
  if (!enabled()) return false;
  double progress = iterations > 0 ? static_cast<double>(step) / static_cast<double>(iterations) : 1.0;
  if (max_wallclock_ms > 0) progress = std::max(progress, elapsed_ms / max_wallclock_ms);
  return progress >= settings_.start_fraction;
}

bool QuantAwareTraining::prepare_step(LanguageModel& model, int64_t step, int64_t iterations, double elapsed_ms,
                                      double max_wallclock_ms, Logger& log) {
  // Once on, QAT stays on (a wall-clock fraction could otherwise flicker with step timing).
  const bool active = started_ || active_at(step, iterations, elapsed_ms, max_wallclock_ms);
  if (!active) {
    release(model);
    return false;
  }
  if (!started_) {
    started_ = true;
    log.log("qat:start step:" + std::to_string(step) + " " + description());
  }
  backend_.copy_to_host(master_host_.data(), model.params());
  fake_quantize_parameters(model.layout(), policy_, master_host_.data(), quant_host_.data(),
                           settings_.noise ? &rng_ : nullptr);
  backend_.copy_from_host(weights_, quant_host_.data());
  model.set_forward_weights(weights_);
  return true;
}

void QuantAwareTraining::release(LanguageModel& model) const { model.set_forward_weights(Tensor{}); }

std::string QuantAwareTraining::description() const {
  return std::string("qat_scope:") + (enabled() ? "all" : "none") + " qat_start_fraction:" +
         std::to_string(settings_.start_fraction) + " qat_noise:" + (settings_.noise ? "1" : "0") +
         " qat_bits:" + std::to_string(policy_.bits);
}

}  // namespace dg
