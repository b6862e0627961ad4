// How a row's quantization scale is chosen: the clip rule.
//  * percentile (the challenge's, bit for bit): clip = torch.quantile(|w|, 0.9999984) computed as
//    torch 1.13 does it in fp32, scale = max(clip / qmax, 1 / qmax) in fp32; weights are clamped to
//    ±clip and rounded with that fp32 scale, while the stored (and dequantizing) scale is its fp16;
//  * sdclip (the challenge's GPTQ records: "SDClip"): scale = fp16(k · std(row) / qmax), std with
//    Bessel's correction (torch's default), no 1/qmax floor; weights are rounded with the stored fp16
//    scale and clamped to ±qmax, so values beyond k standard deviations clip. A row with std 0 falls
//    back to max|w| / qmax, an all-zero row to scale 1.
// Larger k makes the grid coarser (fewer distinct ints, which compress better) and clips less.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dg::quant {

inline constexpr double kClipQuantile = 99.99984 / 100.0;  // train_gpt.py's INT8_CLIP_Q

enum class ClipRule : uint8_t { Percentile, SdClip };
const char* clip_rule_name(ClipRule rule);
ClipRule parse_clip_rule(const std::string& name);  // "percentile" or "sdclip"

struct ClipSpec {
  ClipRule rule = ClipRule::Percentile;
  double sdclip_k = 12.85;  // the records' k for int6 matrices
};

struct RowScale {
  float clip = 0.0f;          // weights are clamped to ±clip before rounding (infinity: only ±qmax)
  float round_scale = 1.0f;   // q = round_half_even(clamp(w) / round_scale)
  uint16_t stored_fp16 = 0;   // what the artifact stores; a weight comes back as q · half(stored)
};

// torch.quantile(|x|, kClipQuantile) over n >= 1 values with linear interpolation, bit-identical to
// torch 1.13 (rank = fp32(q) · fp32(n − 1) in fp32, then torch's lerp). `scratch` is reused.
// Throws when a value is not finite (torch would return NaN and the artifact would be garbage).
float clip_quantile_abs(const float* x, int64_t n, std::vector<float>& scratch);
// The same without the finiteness check (callers check first, outside parallel regions).
float quantile_abs_unchecked(const float* x, int64_t n, std::vector<float>& scratch);

// The scale of one row of `cols` finite values for ints in [−qmax, qmax].
RowScale row_scale(const float* w, int64_t cols, int qmax, const ClipSpec& spec, std::vector<float>& scratch);

}  // namespace dg::quant
