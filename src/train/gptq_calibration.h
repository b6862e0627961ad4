// GPTQ's calibration: run the trained model forward over training tokens (never validation) and
// collect, for every weight the artifact stores as per-row ints, the Hessian H = Σ xᵀx of the
// inputs x its matmul sees. The model is not touched: every `matmul(out, x, W^T)` whose W is one of
// the model's own parameter tensors is observed by a CPU backend that adds xᵀx to W's Hessian, so
// any architecture is covered without hooks in its graph. A weight used several times (DART's
// shared block over its loops, the tied embedding as the output head) sums all its uses. A weight
// the forward never multiplies as it is stored (DART's W_q, which is used as W_q + ΔW_q) gets no
// Hessian and is rounded to nearest.
//
// On the challenge the calibration runs after training inside the 600-second budget, so its time
// is reported (`gptq_calibration ... time:...ms`).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/config.h"
#include "quant/quantizer.h"

namespace dg {

struct GptqCalibration {
  quant::HessianMap hessians;
  int64_t tokens = 0, batches = 0;
  double elapsed_ms = 0.0;
  std::string log_line() const;  // "gptq_calibration tokens:N batches:B hessians:H time:Tms"
};

// `host_params`: the layout's flat buffer (model_layout(config)). Reads gptq_calibration_tokens
// tokens from the start of the training shards in `data_path` (fineweb_train_*.bin), in batches of
// the run's micro-batch.
GptqCalibration calibrate_gptq(const Config& config, const float* host_params, const std::filesystem::path& data_path);

}  // namespace dg
