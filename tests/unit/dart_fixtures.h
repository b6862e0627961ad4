// Small DART configurations for the model and oracle tests: every feature on unless a test says
// otherwise (memory rows, per-loop W_q deltas, the PR's W_q fake-quant, U-Net across loops, deep
// supervision), and the helpers those tests share.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "model/settings.h"

namespace dg::test {

// vocab 64, d 32, 4 heads, 2 KV heads, MLP ×2, 4 loops of 1 block, 3 memory rows, rank-2 deltas,
// seq 16, plus any overrides ("key=value").
inline Config small_dart_config(const std::vector<std::string>& overrides = {}) {
  RunConfigSources sources;
  sources.preset = "pr345";
  sources.assignments = {"vocab_size=64",      "model_dim=32",  "num_heads=4",    "num_kv_heads=2",
                         "mlp_mult=2",         "num_loops=4",   "num_unique_blocks=1", "num_memory_tokens=3",
                         "delta_rank=2",       "train_seq_len=16"};
  for (const auto& o : overrides) sources.assignments.push_back(o);
  return resolve_run_config(sources);
}

}  // namespace dg::test
