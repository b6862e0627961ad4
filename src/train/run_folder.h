// The run folder a training run writes (docs/run-folder.md): train_log.txt, metrics.jsonl,
// checkpoints, the artifact. A folder that already holds a run is never silently mixed with a
// second one (a new run once overwrote the old model and appended its steps to the old metrics).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace dg {

// The model files of a previous run in `dir` (final_model.*, checkpoint_step*.safetensors); empty
// when it holds none.
std::vector<std::string> previous_run_files(const std::filesystem::path& dir);

// Makes `dir` ready for a fresh run: creates it; when it already holds a run's models, refuses
// (naming the files and the ways out) unless `overwrite`, which removes that run's models, log and
// metrics first.
void prepare_fresh_run_folder(const std::filesystem::path& dir, bool overwrite);

}  // namespace dg
