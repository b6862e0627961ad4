#include "quant/clip_rule.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "quant/fp16.h"

namespace dg::quant {

namespace {

// torch 1.13's scalar lerp (aten/src/ATen/native/Lerp.h): two formulas, chosen by |weight| < 0.5.
// g++ contracts `start + weight * (end - start)` into one FMA (C++ defaults to -ffp-contract=fast and
// the x86-64-v3 build has FMA); that is what QuantizerVsTorch finds bit-identical to Debian's torch
// 1.13, and the CUDA fake quant fuses the same step to match (tests/backend_ops/test_cuda_optim.cpp).
float torch_lerp(float start, float end, float weight) {
  if (std::fabs(weight) < 0.5f) {
    const float step = weight * (end - start);
    return start + step;
  }
  const float step = (end - start) * (1.0f - weight);
  return end - step;
}

RowScale percentile_scale(const float* w, int64_t cols, int qmax, std::vector<float>& scratch) {
  RowScale s;
  s.clip = quantile_abs_unchecked(w, cols, scratch);
  const float scale_floor = static_cast<float>(1.0 / qmax);  // clamp_min(1/qmax): a double scalar cast to fp32
  s.round_scale = std::max(s.clip / static_cast<float>(qmax), scale_floor);
  s.stored_fp16 = float_to_half_bits(s.round_scale);
  return s;
}

RowScale sdclip_scale(const float* w, int64_t cols, int qmax, double k) {
  double mean = 0.0, max_abs = 0.0;
  for (int64_t c = 0; c < cols; ++c) {
    mean += w[c];
    max_abs = std::max(max_abs, std::fabs(static_cast<double>(w[c])));
  }
  mean /= static_cast<double>(cols);
  double squares = 0.0;
  for (int64_t c = 0; c < cols; ++c) squares += (w[c] - mean) * (w[c] - mean);
  const double std_dev = cols > 1 ? std::sqrt(squares / static_cast<double>(cols - 1)) : 0.0;
  double scale = k * std_dev / qmax;
  if (!(scale > 0.0)) scale = max_abs > 0.0 ? max_abs / qmax : 1.0;
  RowScale s;
  s.stored_fp16 = float_to_half_bits(static_cast<float>(scale));
  if (half_bits_to_float(s.stored_fp16) == 0.0f) s.stored_fp16 = 1;  // below fp16's range: its smallest step
  s.round_scale = half_bits_to_float(s.stored_fp16);
  s.clip = std::numeric_limits<float>::infinity();
  return s;
}

}  // namespace

const char* clip_rule_name(ClipRule rule) { return rule == ClipRule::SdClip ? "sdclip" : "percentile"; }

ClipRule parse_clip_rule(const std::string& name) {
  if (name == "percentile") return ClipRule::Percentile;
  if (name == "sdclip") return ClipRule::SdClip;
  DG_THROW("artifact_clip='" << name << "' is not a clip rule: use percentile (the challenge's) or sdclip (k · row std)");
}

float quantile_abs_unchecked(const float* x, int64_t n, std::vector<float>& scratch) {
  scratch.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) scratch[static_cast<size_t>(i)] = std::fabs(x[i]);
  // torch: q is a float32 tensor, rank = q * (n − 1) in float32, below = trunc(rank), above = ceil(rank).
  const float rank = static_cast<float>(kClipQuantile) * static_cast<float>(n - 1);
  const auto below = static_cast<int64_t>(rank);
  const auto above = static_cast<int64_t>(std::ceil(rank));
  const float weight = rank - static_cast<float>(below);
  auto nth = scratch.begin() + below;
  std::nth_element(scratch.begin(), nth, scratch.end());
  const float low = *nth;
  const float high = above == below ? low : *std::min_element(nth + 1, scratch.end());
  return torch_lerp(low, high, weight);
}

float clip_quantile_abs(const float* x, int64_t n, std::vector<float>& scratch) {
  DG_CHECK(n >= 1, "quantile of an empty tensor");
  for (int64_t i = 0; i < n; ++i)
    DG_CHECK(std::isfinite(x[i]), "row 0 column " << i << " holds " << x[i]
                                                   << ": a weight that is not finite cannot be stored in the artifact (did training diverge?)");
  return quantile_abs_unchecked(x, n, scratch);
}

RowScale row_scale(const float* w, int64_t cols, int qmax, const ClipSpec& spec, std::vector<float>& scratch) {
  return spec.rule == ClipRule::SdClip ? sdclip_scale(w, cols, qmax, spec.sdclip_k)
                                       : percentile_scale(w, cols, qmax, scratch);
}

}  // namespace dg::quant
