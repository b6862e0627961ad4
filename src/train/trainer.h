// `dartgolf train`: train_gpt.py's training loop (validation cadence, wall-clock cap, warmdown,
// Muon momentum warm-up, its log lines) on a dartgolf backend, plus checkpoints and JSONL metrics.
#pragma once

#include <filesystem>
#include <string>

#include "core/config.h"

namespace dg {

struct TrainRequest {
  Config config;
  std::string preset;
  std::filesystem::path out_dir;  // empty: runs/<run_id>
  bool overwrite = false;         // replace a previous run in out_dir instead of refusing
};

struct TrainSummary {
  int64_t steps = 0;
  double val_loss = 0.0, val_bpb = 0.0;
  double train_time_ms = 0.0;
  std::filesystem::path out_dir, checkpoint, log_file;
};

TrainSummary train(const TrainRequest& request);

}  // namespace dg
