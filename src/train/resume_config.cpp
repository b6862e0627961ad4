#include "train/resume_config.h"

#include <algorithm>
#include <sstream>

#include "core/error.h"

namespace dg {

const std::vector<std::string>& resumable_setting_changes() {
  static const std::vector<std::string> keys = {
      "iterations",      "max_wallclock_seconds",    "val_loss_every",   "train_log_every", "checkpoint_every",
      "checkpoint_every_seconds", "keep_checkpoints", "threads",         "data_path",       "tokenizer_path",
      "val_max_tokens",  "val_batch_size",           "on_nan",           "nan_skip_limit",  "warmup_steps",
      "dist_timeout_seconds", "device",
  };
  return keys;
}

void check_resume_changes(const Config& stored, const Config& now) {
  const auto& allowed = resumable_setting_changes();
  std::ostringstream changed;
  for (const auto& [key, value] : now.values().items()) {
    if (!stored.has(key) || stored.at(key) == value) continue;
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    changed << "\n  " << key << ": " << stored.at(key).dump() << " in the run, now " << value.dump() << " (from "
            << now.origins().at(key) << ")";
  }
  if (changed.str().empty()) return;
  std::string listing;
  for (const std::string& key : allowed) listing += (listing.empty() ? "" : ", ") + key;
  DG_THROW("--resume: these settings differ from the run's and would make it a different run:"
           << changed.str() << "\nA resumed run may change only: " << listing);
}

}  // namespace dg
