// Tensor quantization for the artifact: the challenge's post-training quantizer (train_gpt.py:
// quantize_state_dict_int8 and dequantize_state_dict_int8) reproduced bit for bit by default, and
// dartgolf's options beside it: other int widths, a separate width for the embedding, the SDClip
// rule, and GPTQ (quant/gptq.h) instead of round-to-nearest.
//
// Per tensor, in this order (the challenge's decision):
//  * numel <= 65,536 and the name contains a keep-fp32 pattern (resid_mix, q_gain, ...): stored fp32;
//  * numel <= 65,536 otherwise: stored fp16 (round to nearest even);
//  * 2-D: per-row int with one fp16 scale per row, chosen by the clip rule (quant/clip_rule.h);
//    round-to-nearest, or GPTQ when the policy asks for it and the tensor has a Hessian;
//  * any other shape: per-tensor int with one fp32 scale = clip / qmax (1 when clip is 0), the
//    percentile clip.
// qmax = 2^(bits−1) − 1: 127 for the challenge's int8.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "quant/clip_rule.h"
#include "quant/gptq.h"

namespace dg {
class Config;
}

namespace dg::quant {

inline constexpr int64_t kKeepFloatMaxNumel = 65536;  // train_gpt.py's INT8_KEEP_FLOAT_MAX_NUMEL
// train_gpt.py's CONTROL_TENSOR_NAME_PATTERNS, which its INT8_KEEP_FLOAT_FP32_NAME_PATTERNS defaults to.
inline constexpr const char* kDefaultKeepFp32Patterns =
    "attn_scale,attn_scales,mlp_scale,mlp_scales,resid_mix,resid_mixes,q_gain,skip_weight,skip_weights";
// Tensors whose name contains this are "the embedding" for artifact_embed_bits (gpt and DART: tok_emb.weight).
inline constexpr const char* kEmbeddingNamePattern = "tok_emb";

enum class Encoding : uint8_t { Fp32 = 0, Fp16 = 1, IntPerRow = 2, IntPerTensor = 3 };
const char* encoding_name(Encoding encoding);

enum class Quantizer : uint8_t { Rtn, Gptq };
const char* quantizer_name(Quantizer quantizer);
Quantizer parse_quantizer(const std::string& name);  // "rtn" or "gptq"

struct QuantPolicy {
  int bits = 8;         // 2..8
  int embed_bits = 0;   // the embedding's width, 2..8; 0: `bits`
  ClipSpec clip;        // every per-row int tensor
  double embed_sdclip_k = 0.0;  // the embedding's k under sdclip; 0: clip.sdclip_k
  Quantizer quantizer = Quantizer::Rtn;
  GptqOptions gptq;
  std::vector<std::string> keep_fp32_patterns;
  // artifact_bits, artifact_embed_bits, artifact_clip, artifact_sdclip_k, artifact_embed_sdclip_k,
  // artifact_quantizer, gptq_damping, gptq_block_size, gptq_act_order and
  // int8_keep_float_fp32_name_patterns (comma-separated, as the challenge's variable).
  static QuantPolicy from_config(const Config& config);
  static QuantPolicy challenge_default();
  int qmax() const { return (1 << (bits - 1)) - 1; }
  bool is_embedding(const std::string& name) const;
  int bits_for(const std::string& name) const;
  ClipSpec clip_for(const std::string& name) const;
  // "int8", "int6 emb8", "gptq int6 sdclip12.85": the short description logs and READMEs print.
  std::string describe() const;
};

// Per tensor name, its cols × cols input Hessian Σ xᵀx (row-major), from GPTQ's calibration.
using HessianMap = std::map<std::string, std::vector<double>>;

std::vector<std::string> split_patterns(const std::string& comma_separated);
void check_bits(int bits);

// How the artifact stores a float tensor of this name and shape (train_gpt.py's decision order).
Encoding choose_encoding(const std::string& name, const std::vector<int64_t>& shape, const QuantPolicy& policy);

// Round-to-nearest per-row quantization of a rows × cols matrix: q (rows·cols values in
// [−qmax, qmax]) and the fp16 bits of each row's scale. Without a ClipSpec: the challenge's percentile.
void quantize_per_row(const float* w, int64_t rows, int64_t cols, int bits, int8_t* q, uint16_t* scales_fp16);
void quantize_per_row(const float* w, int64_t rows, int64_t cols, int bits, const ClipSpec& clip, int8_t* q,
                      uint16_t* scales_fp16);
void dequantize_per_row(const int8_t* q, const uint16_t* scales_fp16, int64_t rows, int64_t cols, float* out);
// GPTQ per-row quantization with the same scales the clip rule gives round-to-nearest.
GptqReport gptq_quantize_per_row(const float* w, int64_t rows, int64_t cols, int bits, const ClipSpec& clip,
                                 const double* hessian, const GptqOptions& options, int8_t* q, uint16_t* scales_fp16);

// Per-tensor quantization of n values with one fp32 scale (percentile clip).
void quantize_per_tensor(const float* w, int64_t n, int bits, int8_t* q, float* scale);
void dequantize_per_tensor(const int8_t* q, float scale, int64_t n, float* out);

// Throws naming the first non-finite value's row and column.
void check_finite_rows(const float* w, int64_t rows, int64_t cols);

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

// `hessian` (cols × cols, or null): with policy.quantizer == Gptq a per-row tensor with a Hessian
// goes through GPTQ; without one it is rounded to nearest. `report`, when given, says what GPTQ did.
EncodedTensor encode_tensor(const std::string& name, const std::vector<int64_t>& shape, const float* values,
                            const QuantPolicy& policy, const double* hessian = nullptr, GptqReport* report = nullptr);
// Writes numel() floats.
void decode_tensor(const EncodedTensor& tensor, float* out);

}  // namespace dg::quant
