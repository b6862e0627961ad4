// `dartgolf train`: train_gpt.py's training loop (validation cadence, wall-clock cap, warmdown,
// Muon momentum warm-up, its log lines) on a dartgolf backend, plus checkpoints and JSONL metrics.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "core/config.h"
#include "train/train_checkpoint.h"

namespace dg {

struct TrainRequest {
  Config config;
  std::string preset;
  std::filesystem::path out_dir;  // empty: runs/<run_id>; the run folder when resuming
  bool overwrite = false;         // replace a previous run in out_dir instead of refusing
  // Continue the run in out_dir from this checkpoint (find_resume_point); `config` is then the run's
  // own config with only the changes check_resume_changes allows.
  std::optional<ResumePoint> resume;
};

struct TrainSummary {
  int64_t steps = 0;
  double val_loss = 0.0, val_bpb = 0.0;
  double train_time_ms = 0.0;
  int stopped_by_signal = 0;  // SIGINT/SIGTERM stopped it with a resumable checkpoint (in `checkpoint`)
  int rank = 0;               // this process's rank; only rank 0 wrote the run folder
  std::filesystem::path out_dir, checkpoint, log_file;
};

TrainSummary train(const TrainRequest& request);

}  // namespace dg
