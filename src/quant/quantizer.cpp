#include "quant/quantizer.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/config.h"
#include "core/error.h"
#include "quant/fp16.h"

namespace dg::quant {

namespace {

// One row by round-to-nearest: its q values and the fp16 bits of its scale. Shared by pack and by
// fake quantization, so both produce the same numbers by construction.
uint16_t quantize_row(const float* w, int64_t cols, int qmax, const ClipSpec& clip, int8_t* q,
                      std::vector<float>& scratch) {
  const RowScale s = row_scale(w, cols, qmax, clip, scratch);
  const float qmax_f = static_cast<float>(qmax);
  for (int64_t c = 0; c < cols; ++c) {
    const float clipped = std::max(std::min(w[c], s.clip), -s.clip);
    const float rounded = std::nearbyint(clipped / s.round_scale);  // round half to even (default rounding mode)
    q[c] = static_cast<int8_t>(std::clamp(rounded, -qmax_f, qmax_f));
  }
  return s.stored_fp16;
}

void dequantize_row(const int8_t* q, uint16_t scale_fp16, int64_t cols, float* out) {
  const float scale = half_bits_to_float(scale_fp16);
  for (int64_t c = 0; c < cols; ++c) out[c] = static_cast<float>(q[c]) * scale;
}

float per_tensor_scale(float clip, int qmax) {
  // train_gpt.py: float(clip) / qmax in double, stored as a float32 tensor; 1.0 when clip is 0.
  return clip > 0.0f ? static_cast<float>(static_cast<double>(clip) / qmax) : 1.0f;
}

}  // namespace

void check_finite_rows(const float* w, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      if (!std::isfinite(w[r * cols + c]))
        DG_THROW("row " << r << " column " << c << " holds " << w[r * cols + c]
                        << ": a weight that is not finite cannot be stored in the artifact (did training diverge?)");
}

namespace {
// fp16 tops out at 65504: a larger finite weight would silently become inf in the artifact.
void check_fits_fp16(const float* w, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      DG_CHECK(std::fabs(w[r * cols + c]) <= 65504.0f,
               "row " << r << " column " << c << " holds " << w[r * cols + c]
                      << ", beyond fp16's largest value 65504: it would be stored as inf; keep the tensor fp32 "
                         "(int8_keep_float_fp32_name_patterns) or find why it grew so large");
}
}  // namespace

void check_bits(int bits) {
  DG_CHECK(bits >= 2 && bits <= 8, "artifact_bits=" << bits << " is not supported: use 2..8 (8 is the challenge's int8)");
}

const char* encoding_name(Encoding encoding) {
  switch (encoding) {
    case Encoding::Fp32: return "fp32";
    case Encoding::Fp16: return "fp16";
    case Encoding::IntPerRow: return "int_per_row";
    case Encoding::IntPerTensor: return "int_per_tensor";
  }
  return "?";
}

const char* quantizer_name(Quantizer quantizer) { return quantizer == Quantizer::Gptq ? "gptq" : "rtn"; }

Quantizer parse_quantizer(const std::string& name) {
  if (name == "rtn") return Quantizer::Rtn;
  if (name == "gptq") return Quantizer::Gptq;
  DG_THROW("artifact_quantizer='" << name << "' is not a quantizer: use rtn (round to nearest, the challenge's) or gptq");
}

std::vector<std::string> split_patterns(const std::string& comma_separated) {
  std::vector<std::string> out;
  std::stringstream in(comma_separated);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);  // like train_gpt.py's `if pattern`
  return out;
}

QuantPolicy QuantPolicy::challenge_default() {
  QuantPolicy policy;
  policy.keep_fp32_patterns = split_patterns(kDefaultKeepFp32Patterns);
  return policy;
}

QuantPolicy QuantPolicy::from_config(const Config& config) {
  QuantPolicy policy;
  policy.bits = static_cast<int>(config.get_int("artifact_bits"));
  check_bits(policy.bits);
  policy.embed_bits = static_cast<int>(config.get_int("artifact_embed_bits"));
  DG_CHECK(policy.embed_bits == 0 || (policy.embed_bits >= 2 && policy.embed_bits <= 8),
           "artifact_embed_bits=" << policy.embed_bits << " is not supported: use 2..8, or 0 for artifact_bits");
  policy.clip.rule = parse_clip_rule(config.get_string("artifact_clip"));
  policy.clip.sdclip_k = config.get_double("artifact_sdclip_k");
  policy.embed_sdclip_k = config.get_double("artifact_embed_sdclip_k");
  DG_CHECK(policy.clip.sdclip_k > 0.0, "artifact_sdclip_k=" << policy.clip.sdclip_k << " must be positive");
  DG_CHECK(policy.embed_sdclip_k >= 0.0, "artifact_embed_sdclip_k=" << policy.embed_sdclip_k
                                                                    << " must be positive, or 0 for artifact_sdclip_k");
  policy.quantizer = parse_quantizer(config.get_string("artifact_quantizer"));
  policy.gptq.damping = config.get_double("gptq_damping");
  policy.gptq.block_size = config.get_int("gptq_block_size");
  policy.gptq.act_order = config.get_bool("gptq_act_order");
  DG_CHECK(policy.gptq.damping >= 0.0 && policy.gptq.damping <= 1.0,
           "gptq_damping=" << policy.gptq.damping << " must be in [0, 1] (a fraction of mean(diag H))");
  DG_CHECK(policy.gptq.block_size >= 1, "gptq_block_size=" << policy.gptq.block_size << " must be positive");
  policy.keep_fp32_patterns = split_patterns(config.get_string("int8_keep_float_fp32_name_patterns"));
  return policy;
}

bool QuantPolicy::is_embedding(const std::string& name) const { return name.find(kEmbeddingNamePattern) != std::string::npos; }

int QuantPolicy::bits_for(const std::string& name) const {
  return embed_bits != 0 && is_embedding(name) ? embed_bits : bits;
}

ClipSpec QuantPolicy::clip_for(const std::string& name) const {
  ClipSpec spec = clip;
  if (embed_sdclip_k > 0.0 && is_embedding(name)) spec.sdclip_k = embed_sdclip_k;
  return spec;
}

std::string QuantPolicy::describe() const {
  std::ostringstream out;
  if (quantizer == Quantizer::Gptq) out << "gptq ";
  out << "int" << bits;
  if (embed_bits != 0 && embed_bits != bits) out << " emb" << embed_bits;
  if (clip.rule == ClipRule::SdClip) {
    out << " sdclip" << clip.sdclip_k;
    if (embed_sdclip_k > 0.0 && embed_sdclip_k != clip.sdclip_k) out << "/emb" << embed_sdclip_k;
  }
  return out.str();
}

Encoding choose_encoding(const std::string& name, const std::vector<int64_t>& shape, const QuantPolicy& policy) {
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  if (numel <= kKeepFloatMaxNumel) {
    for (const std::string& pattern : policy.keep_fp32_patterns)
      if (name.find(pattern) != std::string::npos) return Encoding::Fp32;
    return Encoding::Fp16;
  }
  return shape.size() == 2 ? Encoding::IntPerRow : Encoding::IntPerTensor;
}

void quantize_per_row(const float* w, int64_t rows, int64_t cols, int bits, int8_t* q, uint16_t* scales_fp16) {
  quantize_per_row(w, rows, cols, bits, ClipSpec{}, q, scales_fp16);
}

void quantize_per_row(const float* w, int64_t rows, int64_t cols, int bits, const ClipSpec& clip, int8_t* q,
                      uint16_t* scales_fp16) {
  check_bits(bits);
  DG_CHECK(rows >= 1 && cols >= 1, "per-row quantization needs a non-empty matrix, got " << rows << "x" << cols);
  check_finite_rows(w, rows, cols);
  const int qmax = (1 << (bits - 1)) - 1;
#pragma omp parallel
  {
    std::vector<float> scratch;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r)
      scales_fp16[r] = quantize_row(w + r * cols, cols, qmax, clip, q + r * cols, scratch);
  }
}

void dequantize_per_row(const int8_t* q, const uint16_t* scales_fp16, int64_t rows, int64_t cols, float* out) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) dequantize_row(q + r * cols, scales_fp16[r], cols, out + r * cols);
}

GptqReport gptq_quantize_per_row(const float* w, int64_t rows, int64_t cols, int bits, const ClipSpec& clip,
                                 const double* hessian, const GptqOptions& options, int8_t* q, uint16_t* scales_fp16) {
  check_bits(bits);
  DG_CHECK(rows >= 1 && cols >= 1, "GPTQ needs a non-empty matrix, got " << rows << "x" << cols);
  check_finite_rows(w, rows, cols);
  const int qmax = (1 << (bits - 1)) - 1;
  // GPTQ compensates the error of the weight as it will be dequantized: with the stored fp16 scale.
  std::vector<float> scales(static_cast<size_t>(rows));
  std::vector<float> scratch;
  for (int64_t r = 0; r < rows; ++r) {
    scales_fp16[r] = row_scale(w + r * cols, cols, qmax, clip, scratch).stored_fp16;
    scales[static_cast<size_t>(r)] = half_bits_to_float(scales_fp16[r]);
  }
  return gptq_quantize(w, rows, cols, hessian, scales.data(), qmax, options, q);
}

void quantize_per_tensor(const float* w, int64_t n, int bits, int8_t* q, float* scale) {
  check_bits(bits);
  std::vector<float> scratch;
  const float clip = clip_quantile_abs(w, n, scratch);
  const int qmax = (1 << (bits - 1)) - 1;
  const float qmax_f = static_cast<float>(qmax);
  const float s = per_tensor_scale(clip, qmax);
  for (int64_t i = 0; i < n; ++i) {
    const float clipped = std::min(std::max(w[i], -clip), clip);  // torch.clamp(t, -clip, clip)
    q[i] = static_cast<int8_t>(std::clamp(std::nearbyint(clipped / s), -qmax_f, qmax_f));
  }
  *scale = s;
}

void dequantize_per_tensor(const int8_t* q, float scale, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(q[i]) * scale;
}

int64_t EncodedTensor::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

EncodedTensor encode_tensor(const std::string& name, const std::vector<int64_t>& shape, const float* values,
                            const QuantPolicy& policy, const double* hessian, GptqReport* report) {
  EncodedTensor t;
  t.name = name;
  t.shape = shape;
  t.encoding = choose_encoding(name, shape, policy);
  const int64_t n = t.numel();
  const auto count = static_cast<size_t>(n);
  // Rows and columns for error messages: a 1-D tensor is one row.
  const int64_t rows = shape.size() >= 2 ? shape[0] : 1;
  const int64_t cols = rows > 0 ? n / rows : 0;
  try {
    check_finite_rows(values, rows, cols);
    switch (t.encoding) {
      case Encoding::Fp32:
        t.bits = 32;
        t.fp32.assign(values, values + n);
        break;
      case Encoding::Fp16:
        check_fits_fp16(values, rows, cols);
        t.bits = 16;
        t.fp16.resize(count);
        for (int64_t i = 0; i < n; ++i) t.fp16[static_cast<size_t>(i)] = float_to_half_bits(values[i]);
        break;
      case Encoding::IntPerRow:
        t.bits = policy.bits_for(name);
        t.q.resize(count);
        t.row_scales.resize(static_cast<size_t>(t.rows()));
        if (policy.quantizer == Quantizer::Gptq && hessian != nullptr) {
          const GptqReport r = gptq_quantize_per_row(values, t.rows(), t.cols(), t.bits, policy.clip_for(name), hessian,
                                                     policy.gptq, t.q.data(), t.row_scales.data());
          if (report) *report = r;
        } else {
          quantize_per_row(values, t.rows(), t.cols(), t.bits, policy.clip_for(name), t.q.data(), t.row_scales.data());
        }
        break;
      case Encoding::IntPerTensor:
        t.bits = policy.bits_for(name);
        t.q.resize(count);
        quantize_per_tensor(values, n, t.bits, t.q.data(), &t.tensor_scale);
        break;
    }
  } catch (const Error& e) {
    DG_THROW("tensor " << name << ": " << e.what());
  }
  return t;
}

void decode_tensor(const EncodedTensor& t, float* out) {
  const int64_t n = t.numel();
  switch (t.encoding) {
    case Encoding::Fp32: std::copy(t.fp32.begin(), t.fp32.end(), out); break;
    case Encoding::Fp16:
      for (int64_t i = 0; i < n; ++i) out[i] = half_bits_to_float(t.fp16[static_cast<size_t>(i)]);
      break;
    case Encoding::IntPerRow: dequantize_per_row(t.q.data(), t.row_scales.data(), t.rows(), t.cols(), out); break;
    case Encoding::IntPerTensor: dequantize_per_tensor(t.q.data(), t.tensor_scale, n, out); break;
  }
}

}  // namespace dg::quant
