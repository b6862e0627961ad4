// `dartgolf bench`: times whole training steps (forward, backward, optimizer) of one configuration
// on random tokens, so throughput can be compared with a peer on the same machine in the same run.
#pragma once

#include <cstdint>
#include <string>

#include "core/config.h"
#include "model/param_layout.h"

namespace dg {

struct BenchResult {
  int64_t steps = 0, tokens_per_step = 0;
  double seconds = 0.0, tokens_per_second = 0.0, ms_per_step = 0.0;
  double flops_per_token = 0.0, gflops_per_second = 0.0;
  int64_t parameters = 0;
  int threads = 0;
  std::string backend, device;  // "cpu"/"cuda", and the backend's description
  int64_t peak_memory_bytes = 0;
};

// Training FLOPs per token in the usual 6N + attention convention: 6 × (weights used in matmuls,
// including the output head) + 6 × layers × seq_len × model_dim for causal attention (QKᵀ and AV,
// forward and backward, half the positions masked).
double training_flops_per_token(const ParamLayout& layout, const Config& config);

BenchResult run_bench(const Config& config, int64_t warmup_steps, int64_t timed_steps);

}  // namespace dg
