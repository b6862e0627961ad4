#include "train/model_io.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "model/settings.h"

namespace dg {

void save_model_checkpoint(const std::filesystem::path& path, LanguageModel& model, Backend& backend,
                           const Config& config, int64_t step, const std::map<std::string, std::string>& extra) {
  const ParamLayout& layout = model.layout();
  std::vector<float> host(static_cast<size_t>(layout.buffer_elements()));
  backend.copy_to_host(host.data(), model.params());
  std::vector<CheckpointTensor> tensors;
  for (const ParamSpec& spec : layout.specs())
    tensors.push_back(CheckpointTensor{spec.name, spec.shape, host.data() + spec.offset});
  CheckpointMeta meta;
  meta.config = config.values();
  meta.step = step;
  meta.extra = extra;
  save_checkpoint(path, tensors, meta);
}

Config checkpoint_config(const LoadedCheckpoint& checkpoint, const std::filesystem::path& path) {
  Config config(default_settings(), "defaults");
  config.merge_json(checkpoint.meta.config, path.string() + " (stored config)");
  return config;
}

std::vector<float> checkpoint_to_flat(const LoadedCheckpoint& checkpoint, const ParamLayout& layout,
                                      const std::filesystem::path& path) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
  for (const ParamSpec& spec : layout.specs()) expected.emplace_back(spec.name, spec.shape);
  check_checkpoint_layout(checkpoint, expected, path);
  std::vector<float> host(static_cast<size_t>(layout.buffer_elements()), 0.0f);
  for (const ParamSpec& spec : layout.specs()) {
    const auto& values = checkpoint.tensors.at(spec.name).second;
    const auto bad = std::find_if(values.begin(), values.end(), [](float v) { return !std::isfinite(v); });
    DG_CHECK(bad == values.end(), path.string() << ": tensor " << spec.name << " holds " << *bad << " at element "
                                                << (bad - values.begin()) << " of " << values.size()
                                                << ": the run that wrote this checkpoint diverged; use an earlier "
                                                   "checkpoint");
    std::copy(values.begin(), values.end(), host.begin() + spec.offset);
  }
  return host;
}

void load_model_weights(const LoadedCheckpoint& checkpoint, const std::filesystem::path& path, LanguageModel& model,
                        Backend& backend) {
  const std::vector<float> host = checkpoint_to_flat(checkpoint, model.layout(), path);
  backend.copy_from_host(model.params(), host.data());
}

}  // namespace dg
