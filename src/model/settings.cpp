#include "model/settings.h"

#include "core/error.h"

namespace dg {
using nlohmann::json;

json default_settings() {
  // Keep in the order of train_gpt.py's Hyperparameters so a diff against it is easy to read.
  return json{
      // data
      {"data_path", "./data/datasets/fineweb10B_sp1024"},
      {"tokenizer_path", "./data/tokenizers/fineweb_1024_bpe.model"},
      {"run_id", ""},  // empty: a fresh random id per run, as train_gpt.py's uuid4
      {"seed", 1337},
      // validation
      {"val_batch_size", 524288},
      {"val_loss_every", 1000},
      {"train_log_every", 200},
      // length
      {"iterations", 20000},
      {"warmdown_iters", 1200},
      {"warmup_steps", 20},
      {"train_batch_tokens", 524288},
      {"train_seq_len", 1024},
      {"max_wallclock_seconds", 600.0},
      {"qk_gain_init", 1.5},
      // shape
      {"vocab_size", 1024},
      {"num_layers", 9},
      {"num_kv_heads", 4},
      {"model_dim", 512},
      {"num_heads", 8},
      {"mlp_mult", 2},
      {"tie_embeddings", true},
      {"rope_base", 10000.0},
      {"logit_softcap", 30.0},
      // optimizer
      {"embed_lr", 0.6},
      {"head_lr", 0.008},
      {"tied_embed_lr", 0.05},
      {"tied_embed_init_std", 0.005},
      {"matrix_lr", 0.04},
      {"scalar_lr", 0.04},
      {"muon_momentum", 0.95},
      {"muon_backend_steps", 5},
      {"muon_momentum_warmup_start", 0.85},
      {"muon_momentum_warmup_steps", 500},
      {"beta1", 0.9},
      {"beta2", 0.95},
      {"adam_eps", 1e-8},
      {"grad_clip_norm", 0.0},
      // dartgolf's own
      {"model", "gpt"},            // architecture: gpt (DART presets come with the DART issue)
      {"grad_accum_steps", 0},     // 0: 8 / world_size, as train_gpt.py
      {"checkpoint_every", 0},     // save a checkpoint every N steps (0: only at the end)
      {"threads", 0},              // CPU threads (0: all cores)
      {"val_max_tokens", 0},       // score only the first N validation tokens (0: the full split)
  };
}

std::vector<std::string> preset_names() { return {"gpt", "tiny"}; }

json preset_overrides(const std::string& preset) {
  if (preset == "gpt") return json::object();
  if (preset == "tiny") {
    // Small enough to train on two CPU cores in a few minutes; the test and demo default. It reads
    // whatever scripts/setup.sh prepared (linked as data/datasets/default).
    return json{
        {"data_path", "./data/datasets/default"}, {"tokenizer_path", "./data/tokenizers/default.model"},
        {"num_layers", 2},        {"model_dim", 128},        {"num_heads", 4},
        {"num_kv_heads", 2},      {"mlp_mult", 2},           {"train_seq_len", 256},
        {"train_batch_tokens", 4096}, {"grad_accum_steps", 1}, {"iterations", 400},
        {"warmdown_iters", 100},  {"val_loss_every", 100},   {"train_log_every", 25},
        {"val_batch_size", 16384}, {"max_wallclock_seconds", 0.0}, {"warmup_steps", 0},
        {"muon_momentum_warmup_steps", 100},
    };
  }
  std::string valid;
  for (const auto& name : preset_names()) valid += (valid.empty() ? "" : ", ") + name;
  DG_THROW("unknown preset '" << preset << "'; valid presets: " << valid
                              << " (dart and pr345 arrive with the DART model)");
}

Config resolve_run_config(const RunConfigSources& sources) {
  Config config(default_settings(), "defaults");
  config.merge_json(preset_overrides(sources.preset), "preset " + sources.preset);
  if (!sources.config_file.empty()) config.merge_file(sources.config_file);
  if (sources.getenv_fn) config.merge_environment(sources.getenv_fn);
  for (const std::string& assignment : sources.assignments) config.set(assignment, "--set");
  return config;
}

}  // namespace dg
