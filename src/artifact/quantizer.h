// The challenge's post-training quantizer (train_gpt.py: quantize_state_dict_int8 and
// dequantize_state_dict_int8), reproduced bit for bit, plus the fake-quant QAT needs.
//
// Per tensor, in this order:
//  * numel <= 65,536 and the name contains a keep-fp32 pattern (resid_mix, q_gain, ...): stored fp32;
//  * numel <= 65,536 otherwise: stored fp16 (round to nearest even);
//  * 2-D: per-row int: clip_r = torch.quantile(|w_r|, 0.9999984) (linear interpolation, computed in
//    fp32 as torch does), scale_r = max(clip_r / qmax, 1 / qmax) in fp32,
//    q = clamp(round_half_even(clamp(w, ±clip_r) / scale_r), ±qmax); the stored scale is fp16(scale_r)
//    and a weight comes back as float(q) · float(fp16(scale_r)): q is rounded with the fp32 scale but
//    dequantized with the fp16 one, exactly like the challenge;
//  * any other shape: per-tensor int with one fp32 scale = clip / qmax (1 when clip is 0).
// qmax = 2^(bits−1) − 1: 127 for the challenge's int8; other widths are dartgolf's options.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dg {
class Config;
class Rng;
}

namespace dg::artifact {

inline constexpr int64_t kKeepFloatMaxNumel = 65536;      // train_gpt.py's INT8_KEEP_FLOAT_MAX_NUMEL
inline constexpr double kClipQuantile = 99.99984 / 100.0;  // train_gpt.py's INT8_CLIP_Q
// train_gpt.py's CONTROL_TENSOR_NAME_PATTERNS, which its INT8_KEEP_FLOAT_FP32_NAME_PATTERNS defaults to.
inline constexpr const char* kDefaultKeepFp32Patterns =
    "attn_scale,attn_scales,mlp_scale,mlp_scales,resid_mix,resid_mixes,q_gain,skip_weight,skip_weights";

enum class Encoding : uint8_t { Fp32 = 0, Fp16 = 1, IntPerRow = 2, IntPerTensor = 3 };
const char* encoding_name(Encoding encoding);

struct QuantPolicy {
  int bits = 8;  // 2..8
  std::vector<std::string> keep_fp32_patterns;
  // artifact_bits and int8_keep_float_fp32_name_patterns (comma-separated, as the challenge's variable).
  static QuantPolicy from_config(const Config& config);
  static QuantPolicy challenge_default();
  int qmax() const { return (1 << (bits - 1)) - 1; }
};

std::vector<std::string> split_patterns(const std::string& comma_separated);

// How the artifact stores a float tensor of this name and shape (train_gpt.py's decision order).
Encoding choose_encoding(const std::string& name, const std::vector<int64_t>& shape, const QuantPolicy& policy);

// torch.quantile(|x|, kClipQuantile) over n >= 1 values with linear interpolation, bit-identical to
// torch 1.13 (rank = fp32(q) · fp32(n − 1) in fp32, then torch's lerp). `scratch` is reused.
// Throws when a value is not finite (torch would return NaN and the artifact would be garbage).
float clip_quantile_abs(const float* x, int64_t n, std::vector<float>& scratch);

// Per-row quantization of a rows × cols matrix: q (rows·cols values in [−qmax, qmax]) and the
// fp16 bits of each row's scale.
void quantize_per_row(const float* w, int64_t rows, int64_t cols, int bits, int8_t* q, uint16_t* scales_fp16);
void dequantize_per_row(const int8_t* q, const uint16_t* scales_fp16, int64_t rows, int64_t cols, float* out);

// Per-tensor quantization of n values with one fp32 scale.
void quantize_per_tensor(const float* w, int64_t n, int bits, int8_t* q, float* scale);
void dequantize_per_tensor(const int8_t* q, float scale, int64_t n, float* out);

// out = dequantize(quantize(w)) for a rows × cols matrix, int8: bit-identical to what `dartgolf
// eval --artifact` loads for a per-row tensor (DART's W_q QAT calls this). `out` may equal `w`.
void fake_quantize_per_row(const float* w, int64_t rows, int64_t cols, float* out);
void fake_quantize_per_row(const float* w, int64_t rows, int64_t cols, int bits, float* out);

// The noisy QAT variant: instead of rounding, each weight (clamped to ±clip_r) gets uniform noise
// of ±scale_r/2 (scale_r the fp16 scale it would be dequantized with), then is clamped to
// ±qmax·scale_r. Same expected rounding error as the real quantizer, but no dead zones.
void noisy_fake_quantize_per_row(const float* w, int64_t rows, int64_t cols, int bits, Rng& rng, float* out);
void noisy_fake_quantize_per_tensor(const float* w, int64_t n, int bits, Rng& rng, float* out);

// One tensor as the artifact stores it.
struct EncodedTensor {
  std::string name;
  std::vector<int64_t> shape;
  Encoding encoding = Encoding::Fp32;
  int bits = 32;                     // 32 / 16 for floats, the int width otherwise
  std::vector<int8_t> q;             // int encodings: numel values
  std::vector<uint16_t> row_scales;  // IntPerRow: one fp16 scale per row
  float tensor_scale = 1.0f;         // IntPerTensor
  std::vector<uint16_t> fp16;        // Fp16
  std::vector<float> fp32;           // Fp32
  int64_t numel() const;
  int64_t rows() const { return shape.size() == 2 ? shape[0] : 1; }
  int64_t cols() const { return shape.size() == 2 ? shape[1] : numel(); }
};

EncodedTensor encode_tensor(const std::string& name, const std::vector<int64_t>& shape, const float* values,
                            const QuantPolicy& policy);
// Writes numel() floats.
void decode_tensor(const EncodedTensor& tensor, float* out);

// out = decode(encode(w)) for one tensor without keeping the encoding (what QAT's forward reads);
// with `noise`, int encodings use the noisy variant instead of rounding.
void fake_quantize_tensor(const std::string& name, const std::vector<int64_t>& shape, const float* w,
                          const QuantPolicy& policy, float* out, Rng* noise = nullptr);

}  // namespace dg::artifact
