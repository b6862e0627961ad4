// Fake quantization for quantization-aware training: decode(encode(w)) without keeping the
// encoding, built from the same row rules as the artifact (quant/quantizer.h), so what training
// sees is what the artifact holds for round-to-nearest. GPTQ's output depends on calibration data
// and cannot be faked per step: a GPTQ artifact trains against its round-to-nearest twin (same
// widths, same clip rule).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "quant/quantizer.h"

namespace dg {
class Rng;
}

namespace dg::quant {

// out = dequantize(quantize(w)) for a rows × cols matrix: bit-identical to what `dartgolf eval
// --artifact` loads for a per-row tensor. `out` may equal `w`. Without bits: the challenge's int8.
void fake_quantize_per_row(const float* w, int64_t rows, int64_t cols, float* out);
void fake_quantize_per_row(const float* w, int64_t rows, int64_t cols, int bits, float* out);
void fake_quantize_per_row(const float* w, int64_t rows, int64_t cols, int bits, const ClipSpec& clip, float* out);

// The noisy QAT variant: instead of rounding, each weight (clamped to ±clip_r) gets uniform noise
// of ±scale_r/2 (scale_r the fp16 scale it would be dequantized with), then is clamped to
// ±qmax·scale_r. Same expected rounding error as the real quantizer, but no dead zones.
void noisy_fake_quantize_per_row(const float* w, int64_t rows, int64_t cols, int bits, Rng& rng, float* out);
void noisy_fake_quantize_per_row(const float* w, int64_t rows, int64_t cols, int bits, const ClipSpec& clip, Rng& rng,
                                 float* out);
void noisy_fake_quantize_per_tensor(const float* w, int64_t n, int bits, Rng& rng, float* out);

// out = decode(encode(w)) for one tensor under `policy` (round-to-nearest); with `noise`, int
// encodings use the noisy variant instead of rounding.
void fake_quantize_tensor(const std::string& name, const std::vector<int64_t>& shape, const float* w,
                          const QuantPolicy& policy, float* out, Rng* noise = nullptr);

}  // namespace dg::quant
