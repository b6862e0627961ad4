// `dartgolf pack --plan`: what a competitor needs before spending 10 minutes of 8×H100.
//  1. The model's tensors in groups (embedding, attention, MLP, other; by how the artifact stores
//     them) with, for a checkpoint, each group's bytes at every int width and codec: the group's
//     stored payload (per-row scales and ints, round to nearest under the run's clip rule),
//     compressed on its own. Without a checkpoint (a preset) there are no trained weights to
//     compress, so int bytes are estimated from the entropy of a Gaussian row quantized by the
//     clip rule (an ideal coder; the codecs measured 3–10% above it), and fp16 at 2 bytes a value.
//  2. The largest shapes that fit the cap under the chosen scheme (the run's artifact_bits,
//     artifact_clip, artifact_codec): for each depth, the widest model_dim (a multiple of 64 that
//     keeps head_dim even) whose estimated artifact + the code archive fits 16,000,000 bytes, with
//     the int bytes per value measured on the checkpoint at that scheme (or estimated, as above).
// GPTQ changes which ints are stored, not how many or their spread, so the plan is the same for it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"

namespace dg::artifact {

struct PlanRequest {
  const float* params = nullptr;  // the layout's flat buffer of a trained checkpoint, or null for a preset
  std::string source;             // "checkpoint X" or "preset P", for the header
  std::vector<int> widths{8, 6, 5, 4};
  int64_t code_bytes = 0;         // the code archive's bytes, counted in every fit
};

// The plan as text lines (tables first, then the shape search).
std::vector<std::string> plan_sizes(const Config& config, const PlanRequest& request);

// Bits per value of a Gaussian row of `cols` values quantized to `bits` under `config`'s clip rule.
double gaussian_int_bits(int64_t cols, int bits, const Config& config);

}  // namespace dg::artifact
