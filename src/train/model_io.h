// Moving a model's weights between the flat device buffer and checkpoint files.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/config.h"
#include "model/language_model.h"
#include "train/checkpoint.h"

namespace dg {

void save_model_checkpoint(const std::filesystem::path& path, LanguageModel& model, Backend& backend,
                           const Config& config, int64_t step, const std::map<std::string, std::string>& extra = {});
// The run config stored in a checkpoint, on top of today's defaults (so older checkpoints load).
Config checkpoint_config(const LoadedCheckpoint& checkpoint, const std::filesystem::path& path);
// The checkpoint's tensors in the layout's flat buffer order, after checking that names and shapes
// match exactly and that every value is finite (a diverged run's checkpoint is refused, naming the
// first tensor and element that is NaN or Inf).
std::vector<float> checkpoint_to_flat(const LoadedCheckpoint& checkpoint, const ParamLayout& layout,
                                      const std::filesystem::path& path);
// Copies the checkpoint's tensors into the model (checkpoint_to_flat's checks first).
void load_model_weights(const LoadedCheckpoint& checkpoint, const std::filesystem::path& path, LanguageModel& model,
                        Backend& backend);

}  // namespace dg
