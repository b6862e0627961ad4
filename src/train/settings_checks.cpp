#include "train/settings_checks.h"

#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "backend/backend_factory.h"
#include "core/error.h"

namespace dg {
namespace {

constexpr double kNoLimit = std::numeric_limits<double>::infinity();

struct Range {
  const char* key;
  double min, max;
  bool min_exclusive = false, max_exclusive = false;
  const char* meaning = "";  // what the special values mean, for the message
};

// Every numeric setting of the run that the model shape checks do not cover.
const std::vector<Range>& run_ranges() {
  static const std::vector<Range> ranges = {
      {"seed", 0, kNoLimit},
      {"val_batch_size", 1, kNoLimit},
      {"val_loss_every", 0, kNoLimit, false, false, " (0: validate only at the end)"},
      {"train_log_every", 0, kNoLimit, false, false, " (0: no step lines)"},
      {"iterations", 0, kNoLimit},
      {"warmdown_iters", 0, kNoLimit, false, false, " (0: no warmdown)"},
      {"warmup_steps", 0, kNoLimit},
      {"train_batch_tokens", 1, kNoLimit},
      {"train_seq_len", 1, kNoLimit},
      {"max_wallclock_seconds", 0, kNoLimit, false, true, " (0: no wall-clock cap)"},
      {"embed_lr", 0, kNoLimit, false, true},
      {"head_lr", 0, kNoLimit, false, true},
      {"tied_embed_lr", 0, kNoLimit, false, true},
      {"tied_embed_init_std", 0, kNoLimit, false, true},
      {"matrix_lr", 0, kNoLimit, false, true},
      {"scalar_lr", 0, kNoLimit, false, true},
      {"muon_momentum", 0, 1, false, true},
      {"muon_backend_steps", 1, 100},
      {"muon_momentum_warmup_start", 0, 1, false, true},
      {"muon_momentum_warmup_steps", 0, kNoLimit},
      {"beta1", 0, 1, false, true},
      {"beta2", 0, 1, false, true},
      {"adam_eps", 0, kNoLimit, true, true},
      {"grad_clip_norm", 0, kNoLimit, false, true, " (0: no clipping)"},
      {"grad_accum_steps", 0, kNoLimit, false, false, " (0: 8 / WORLD_SIZE, as train_gpt.py)"},
      {"checkpoint_every", 0, kNoLimit, false, false, " (0: none by step count)"},
      {"checkpoint_every_seconds", 0, kNoLimit, false, true, " (0: none by time)"},
      {"keep_checkpoints", 0, kNoLimit, false, false, " (0: keep them all)"},
      {"threads", 0, 4096, false, false, " (0: all cores)"},
      {"dist_timeout_seconds", 0, kNoLimit, true, true},
      {"val_max_tokens", 0, kNoLimit, false, false, " (0: the full validation split)"},
      {"nan_skip_limit", 1, kNoLimit},
      {"gptq_calibration_tokens", 1, kNoLimit},
  };
  return ranges;
}

std::string bounds_text(const Range& r) {
  std::ostringstream text;
  if (r.max == kNoLimit) text << (r.min_exclusive ? "> " : ">= ") << r.min;
  else text << (r.min_exclusive ? "in (" : "in [") << r.min << ", " << r.max << (r.max_exclusive ? ")" : "]");
  return text.str();
}

}  // namespace

void check_run_settings(const Config& config) {
  for (const Range& r : run_ranges()) {
    const double value = config.get_double(r.key);
    const bool ok = std::isfinite(value) && (r.min_exclusive ? value > r.min : value >= r.min) &&
                    (r.max == kNoLimit || (r.max_exclusive ? value < r.max : value <= r.max));
    DG_CHECK(ok, r.key << "=" << config.at(r.key).dump() << " (from " << config.origins().at(r.key) << ") must be "
                       << bounds_text(r) << r.meaning);
  }
  check_backend_settings(config);
  const std::string on_nan = config.get_string("on_nan");
  DG_CHECK(on_nan == "stop" || on_nan == "skip", "on_nan='" << on_nan << "' (from " << config.origins().at("on_nan")
                                                             << ") is not valid: use stop or skip");
  const int64_t seq_len = config.get_int("train_seq_len");
  const int64_t val_max_tokens = config.get_int("val_max_tokens");
  DG_CHECK(val_max_tokens == 0 || val_max_tokens >= seq_len,
           "val_max_tokens=" << val_max_tokens << " is less than one validation sequence (train_seq_len=" << seq_len
                             << "); use 0 for the full split or at least " << seq_len);
  // GPTQ calibrates after training: a setting it cannot use must fail now, not after the run.
  DG_CHECK(config.get_int("gptq_calibration_tokens") >= seq_len,
           "gptq_calibration_tokens=" << config.get_int("gptq_calibration_tokens")
                                      << " is less than one training sequence (train_seq_len=" << seq_len << ")");
}

}  // namespace dg
