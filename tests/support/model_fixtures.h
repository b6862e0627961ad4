// Small models with every parameter non-trivial, for model-level tests.
#pragma once

#include <memory>
#include <vector>

#include "backend/backend.h"
#include "core/config.h"
#include "core/rng.h"
#include "model/gpt_model.h"
#include "model/settings.h"

namespace dg::test {

// A config for a small gpt: vocab 64, d 32, 4 heads, 2 KV heads, 3 layers (so a U-Net skip and an
// unpaired decoder block), seq 16, plus any overrides ("key=value").
inline Config small_gpt_config(const std::vector<std::string>& overrides = {}) {
  RunConfigSources sources;
  sources.preset = "gpt";
  sources.assignments = {"vocab_size=64", "model_dim=32", "num_heads=4", "num_kv_heads=2", "num_layers=3",
                         "train_seq_len=16"};
  for (const auto& o : overrides) sources.assignments.push_back(o);
  return resolve_run_config(sources);
}

// Initialises as train_gpt.py would, then adds noise so zero-initialised projections, gains and
// mixes all carry gradient signal.
inline void randomize_params(LanguageModel& model, Backend& backend, uint64_t seed, float noise = 0.05f) {
  std::vector<float> host(static_cast<size_t>(model.layout().buffer_elements()));
  model.layout().initialize(host.data(), seed);
  Rng rng(seed + 1);
  for (const ParamSpec& spec : model.layout().specs())
    for (int64_t i = 0; i < spec.numel(); ++i) host[static_cast<size_t>(spec.offset + i)] += static_cast<float>(rng.normal(0.0, noise));
  backend.copy_from_host(model.params(), host.data());
}

inline std::vector<int32_t> random_tokens(int64_t n, int64_t vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (auto& id : ids) id = static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab)));
  return ids;
}

}  // namespace dg::test
