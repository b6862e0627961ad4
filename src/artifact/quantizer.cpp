#include "artifact/quantizer.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "artifact/fp16.h"
#include "core/config.h"
#include "core/error.h"
#include "core/rng.h"

namespace dg::artifact {

namespace {

// torch 1.13's scalar lerp (aten/src/ATen/native/Lerp.h): two formulas, chosen by |weight| < 0.5.
// Both are written as separate fp32 roundings; the build uses ISO C++ (-ffp-contract=off), so no FMA.
float torch_lerp(float start, float end, float weight) {
  if (std::fabs(weight) < 0.5f) {
    const float step = weight * (end - start);
    return start + step;
  }
  const float step = (end - start) * (1.0f - weight);
  return end - step;
}

// The quantile of |x| without the finiteness check (callers check first, outside parallel regions).
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

void check_finite_rows(const float* w, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      if (!std::isfinite(w[r * cols + c]))
        DG_THROW("row " << r << " column " << c << " holds " << w[r * cols + c]
                        << ": a weight that is not finite cannot be stored in the artifact (did training diverge?)");
}

// fp16 tops out at 65504: a larger finite weight would silently become inf in the artifact.
void check_fits_fp16(const float* w, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      DG_CHECK(std::fabs(w[r * cols + c]) <= 65504.0f,
               "row " << r << " column " << c << " holds " << w[r * cols + c]
                      << ", beyond fp16's largest value 65504: it would be stored as inf; keep the tensor fp32 "
                         "(int8_keep_float_fp32_name_patterns) or find why it grew so large");
}

void check_bits(int bits) {
  DG_CHECK(bits >= 2 && bits <= 8, "artifact_bits=" << bits << " is not supported: use 2..8 (8 is the challenge's int8)");
}

// One row: its q values and the fp16 bits of its scale. Shared by pack and by fake quantization, so
// both produce the same numbers by construction.
uint16_t quantize_row(const float* w, int64_t cols, int qmax, int8_t* q, std::vector<float>& scratch) {
  const float clip = quantile_abs_unchecked(w, cols, scratch);
  const float qmax_f = static_cast<float>(qmax);
  const float scale_floor = static_cast<float>(1.0 / qmax);  // clamp_min(1/qmax): a double scalar cast to fp32
  const float scale = std::max(clip / qmax_f, scale_floor);
  for (int64_t c = 0; c < cols; ++c) {
    const float clipped = std::max(std::min(w[c], clip), -clip);
    const float rounded = std::nearbyint(clipped / scale);  // round half to even (default rounding mode)
    q[c] = static_cast<int8_t>(std::clamp(rounded, -qmax_f, qmax_f));
  }
  return float_to_half_bits(scale);
}

void dequantize_row(const int8_t* q, uint16_t scale_fp16, int64_t cols, float* out) {
  const float scale = half_bits_to_float(scale_fp16);
  for (int64_t c = 0; c < cols; ++c) out[c] = static_cast<float>(q[c]) * scale;
}

float per_tensor_scale(float clip, int qmax) {
  // train_gpt.py: float(clip) / qmax in double, stored as a float32 tensor; 1.0 when clip is 0.
  return clip > 0.0f ? static_cast<float>(static_cast<double>(clip) / qmax) : 1.0f;
}

// Row seeds for the noisy variant: independent of thread scheduling, so a run is reproducible.
uint64_t row_seed(uint64_t base, int64_t row) { return base ^ (0x9E3779B97F4A7C15ull * static_cast<uint64_t>(row + 1)); }

float noisy_value(float w, float clip, float scale_h, float limit, Rng& rng) {
  const float clipped = std::max(std::min(w, clip), -clip);
  const float noise = static_cast<float>(rng.uniform() - 0.5) * scale_h;
  return std::clamp(clipped + noise, -limit, limit);
}

}  // namespace

const char* encoding_name(Encoding encoding) {
  switch (encoding) {
    case Encoding::Fp32: return "fp32";
    case Encoding::Fp16: return "fp16";
    case Encoding::IntPerRow: return "int_per_row";
    case Encoding::IntPerTensor: return "int_per_tensor";
  }
  return "?";
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
  policy.keep_fp32_patterns = split_patterns(config.get_string("int8_keep_float_fp32_name_patterns"));
  return policy;
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

float clip_quantile_abs(const float* x, int64_t n, std::vector<float>& scratch) {
  DG_CHECK(n >= 1, "quantile of an empty tensor");
  check_finite_rows(x, 1, n);
  return quantile_abs_unchecked(x, n, scratch);
}

void quantize_per_row(const float* w, int64_t rows, int64_t cols, int bits, int8_t* q, uint16_t* scales_fp16) {
  check_bits(bits);
  DG_CHECK(rows >= 1 && cols >= 1, "per-row quantization needs a non-empty matrix, got " << rows << "x" << cols);
  check_finite_rows(w, rows, cols);
  const int qmax = (1 << (bits - 1)) - 1;
#pragma omp parallel
  {
    std::vector<float> scratch;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) scales_fp16[r] = quantize_row(w + r * cols, cols, qmax, q + r * cols, scratch);
  }
}

void dequantize_per_row(const int8_t* q, const uint16_t* scales_fp16, int64_t rows, int64_t cols, float* out) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) dequantize_row(q + r * cols, scales_fp16[r], cols, out + r * cols);
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

void fake_quantize_per_row(const float* w, int64_t rows, int64_t cols, float* out) {
  fake_quantize_per_row(w, rows, cols, 8, out);
}

void fake_quantize_per_row(const float* w, int64_t rows, int64_t cols, int bits, float* out) {
  check_bits(bits);
  DG_CHECK(rows >= 1 && cols >= 1, "per-row fake quantization needs a non-empty matrix, got " << rows << "x" << cols);
  check_finite_rows(w, rows, cols);
  const int qmax = (1 << (bits - 1)) - 1;
#pragma omp parallel
  {
    std::vector<float> scratch;
    std::vector<int8_t> q(static_cast<size_t>(cols));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const uint16_t scale = quantize_row(w + r * cols, cols, qmax, q.data(), scratch);
      dequantize_row(q.data(), scale, cols, out + r * cols);
    }
  }
}

void noisy_fake_quantize_per_row(const float* w, int64_t rows, int64_t cols, int bits, Rng& rng, float* out) {
  check_bits(bits);
  DG_CHECK(rows >= 1 && cols >= 1, "per-row fake quantization needs a non-empty matrix, got " << rows << "x" << cols);
  check_finite_rows(w, rows, cols);
  const int qmax = (1 << (bits - 1)) - 1;
  const uint64_t base = rng.next_u64();
#pragma omp parallel
  {
    std::vector<float> scratch;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = w + r * cols;
      const float clip = quantile_abs_unchecked(row, cols, scratch);
      const float scale = std::max(clip / static_cast<float>(qmax), static_cast<float>(1.0 / qmax));
      const float scale_h = round_to_half(scale);
      const float limit = static_cast<float>(qmax) * scale_h;
      Rng row_rng(row_seed(base, r));
      for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = noisy_value(row[c], clip, scale_h, limit, row_rng);
    }
  }
}

void noisy_fake_quantize_per_tensor(const float* w, int64_t n, int bits, Rng& rng, float* out) {
  check_bits(bits);
  std::vector<float> scratch;
  const float clip = clip_quantile_abs(w, n, scratch);
  const int qmax = (1 << (bits - 1)) - 1;
  const float scale = per_tensor_scale(clip, qmax);
  const float limit = static_cast<float>(qmax) * scale;
  Rng tensor_rng(rng.next_u64());
  for (int64_t i = 0; i < n; ++i) out[i] = noisy_value(w[i], clip, scale, limit, tensor_rng);
}

int64_t EncodedTensor::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

EncodedTensor encode_tensor(const std::string& name, const std::vector<int64_t>& shape, const float* values,
                            const QuantPolicy& policy) {
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
        t.bits = policy.bits;
        t.q.resize(count);
        t.row_scales.resize(static_cast<size_t>(t.rows()));
        quantize_per_row(values, t.rows(), t.cols(), policy.bits, t.q.data(), t.row_scales.data());
        break;
      case Encoding::IntPerTensor:
        t.bits = policy.bits;
        t.q.resize(count);
        quantize_per_tensor(values, n, policy.bits, t.q.data(), &t.tensor_scale);
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

void fake_quantize_tensor(const std::string& name, const std::vector<int64_t>& shape, const float* w,
                          const QuantPolicy& policy, float* out, Rng* noise) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  try {
    switch (choose_encoding(name, shape, policy)) {
      case Encoding::Fp32: std::copy(w, w + n, out); break;
      case Encoding::Fp16:
        for (int64_t i = 0; i < n; ++i) out[i] = round_to_half(w[i]);
        break;
      case Encoding::IntPerRow:
        if (noise) noisy_fake_quantize_per_row(w, shape[0], shape[1], policy.bits, *noise, out);
        else fake_quantize_per_row(w, shape[0], shape[1], policy.bits, out);
        break;
      case Encoding::IntPerTensor:
        if (noise) {
          noisy_fake_quantize_per_tensor(w, n, policy.bits, *noise, out);
        } else {
          std::vector<int8_t> q(static_cast<size_t>(n));
          float scale = 1.0f;
          quantize_per_tensor(w, n, policy.bits, q.data(), &scale);
          dequantize_per_tensor(q.data(), scale, n, out);
        }
        break;
    }
  } catch (const Error& e) {
    DG_THROW("tensor " << name << ": " << e.what());
  }
}

}  // namespace dg::artifact
