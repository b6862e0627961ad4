// Every setting a run has, with the challenge's names and defaults, and the presets.
// The keys are train_gpt.py's Hyperparameters lower-cased (each readable from the environment
// variable of the same name upper-cased), plus dartgolf's own (model, threads, ...).
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"

namespace dg {

// train_gpt.py's defaults (the `gpt` preset) plus dartgolf's own settings.
nlohmann::json default_settings();
// Names accepted by --preset, in the order --help lists them.
std::vector<std::string> preset_names();
// The settings a preset changes relative to default_settings(); throws listing valid presets.
nlohmann::json preset_overrides(const std::string& preset);

struct RunConfigSources {
  // A resumed run starts from the config it was trained with (its checkpoint's); the preset then
  // applies only when given on the command line (preset_given), like the other layers.
  nlohmann::json resumed_config;  // null: a fresh run
  bool preset_given = true;
  std::string preset = "gpt";
  std::filesystem::path config_file;   // empty: none
  std::vector<std::string> assignments;  // --set key=value, in order
  std::function<const char*(const char*)> getenv_fn;  // null: no environment
};
// preset < --config file < environment < --set (resumed: defaults < the run's config < the same layers)
Config resolve_run_config(const RunConfigSources& sources);

}  // namespace dg
