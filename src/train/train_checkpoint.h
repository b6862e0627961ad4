// Resumable training checkpoints (checkpoint_stepNNNNNN.safetensors in the run folder): an ordinary
// dartgolf checkpoint (its weights evaluate and pack like final_model's) that also holds the
// optimizer's buffers as "optimizer.*" tensors and, in the metadata key "train_state", everything
// else a killed run needs to continue bit for bit: the loop's counters, the data loader's position,
// every random generator, QAT's phase and the run's identity. docs/run-folder.md describes it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "backend/backend.h"
#include "core/config.h"
#include "core/rng.h"
#include "data/token_loader.h"
#include "model/language_model.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"
#include "train/qat.h"

namespace dg {

// The training loop's own position.
struct TrainProgress {
  int64_t step = 0;                 // optimizer steps the loop has completed (skipped ones included)
  double training_time_ms = 0.0;    // train_gpt.py's train_time: validation and checkpoint writes excluded
  int64_t stop_after_step = -1;     // the step the wall-clock cap chose to stop at, -1 before it did
  int64_t skipped_in_a_row = 0;     // on_nan=skip's count of consecutive skipped steps
};

struct TrainState {
  TrainProgress progress;
  data::TokenStream::Position loader;
  int64_t loader_shards = 0;  // shards the stream read; the data folder must still hold as many
  int64_t optimizer_steps = 0;
  std::optional<RngState> model_rng;  // DART's loop dropout
  QuantAwareTraining::State qat;
  std::string run_id, preset;
};

nlohmann::json train_state_to_json(const TrainState& state);
// Throws naming `path` when a field is missing or of the wrong type.
TrainState train_state_from_json(const nlohmann::json& j, const std::filesystem::path& path);

// "checkpoint_step000042.safetensors"
std::string train_checkpoint_name(int64_t step);
// The step in such a name, or -1 for any other file name.
int64_t train_checkpoint_step(const std::string& file_name);

// Writes a resumable checkpoint of the model's weights, the optimizer's buffers and `state`.
void save_train_checkpoint(const std::filesystem::path& path, LanguageModel& model, Backend& backend,
                           const Optimizer& optimizer, const Config& config, const TrainState& state);

// A checkpoint a run can continue from: loaded, checksum verified, with its train state.
struct ResumePoint {
  std::filesystem::path path;
  LoadedCheckpoint checkpoint;
  TrainState state;
  double load_ms = 0.0;  // reading and verifying it
};

// The newest checkpoint_step*.safetensors in run_dir that loads with a matching checksum and holds a
// train state; a newer one that does not is passed over and reported through `note`. Throws when the
// folder holds no run, holds a finished one (final_model.safetensors), or no checkpoint is good.
ResumePoint find_resume_point(const std::filesystem::path& run_dir, const std::function<void(const std::string&)>& note);

// Puts the checkpoint's weights into the model and its buffers and step count into the optimizer
// (the caller restores the loader, QAT and the model's random generator from point.state).
void restore_weights_and_optimizer(const ResumePoint& point, LanguageModel& model, Backend& backend,
                                   Optimizer& optimizer);

// Removes all but the newest `keep` training checkpoints of run_dir (keep = 0: keeps them all).
void prune_train_checkpoints(const std::filesystem::path& run_dir, int64_t keep);

}  // namespace dg
