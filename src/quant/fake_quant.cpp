#include "quant/fake_quant.h"

#include <algorithm>

#include "core/error.h"
#include "core/rng.h"
#include "quant/fp16.h"

namespace dg::quant {

namespace {

// Row seeds for the noisy variant: independent of thread scheduling, so a run is reproducible.
uint64_t row_seed(uint64_t base, int64_t row) { return base ^ (0x9E3779B97F4A7C15ull * static_cast<uint64_t>(row + 1)); }

float noisy_value(float w, float clip, float scale_h, float limit, Rng& rng) {
  const float clipped = std::max(std::min(w, clip), -clip);
  const float noise = static_cast<float>(rng.uniform() - 0.5) * scale_h;
  return std::clamp(clipped + noise, -limit, limit);
}

void check_matrix(int64_t rows, int64_t cols) {
  DG_CHECK(rows >= 1 && cols >= 1, "per-row fake quantization needs a non-empty matrix, got " << rows << "x" << cols);
}

}  // namespace

void fake_quantize_per_row(const float* w, int64_t rows, int64_t cols, float* out) {
  fake_quantize_per_row(w, rows, cols, 8, out);
}

void fake_quantize_per_row(const float* w, int64_t rows, int64_t cols, int bits, float* out) {
  fake_quantize_per_row(w, rows, cols, bits, ClipSpec{}, out);
}

void fake_quantize_per_row(const float* w, int64_t rows, int64_t cols, int bits, const ClipSpec& clip, float* out) {
  check_matrix(rows, cols);
  std::vector<int8_t> q(static_cast<size_t>(rows * cols));
  std::vector<uint16_t> scales(static_cast<size_t>(rows));
  quantize_per_row(w, rows, cols, bits, clip, q.data(), scales.data());
  dequantize_per_row(q.data(), scales.data(), rows, cols, out);
}

void noisy_fake_quantize_per_row(const float* w, int64_t rows, int64_t cols, int bits, Rng& rng, float* out) {
  noisy_fake_quantize_per_row(w, rows, cols, bits, ClipSpec{}, rng, out);
}

void noisy_fake_quantize_per_row(const float* w, int64_t rows, int64_t cols, int bits, const ClipSpec& clip, Rng& rng,
                                 float* out) {
  check_bits(bits);
  check_matrix(rows, cols);
  check_finite_rows(w, rows, cols);
  const int qmax = (1 << (bits - 1)) - 1;
  const uint64_t base = rng.next_u64();
#pragma omp parallel
  {
    std::vector<float> scratch;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = w + r * cols;
      const RowScale s = row_scale(row, cols, qmax, clip, scratch);
      const float scale_h = half_bits_to_float(s.stored_fp16);
      const float limit = static_cast<float>(qmax) * scale_h;
      Rng row_rng(row_seed(base, r));
      for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = noisy_value(row[c], s.clip, scale_h, limit, row_rng);
    }
  }
}

void noisy_fake_quantize_per_tensor(const float* w, int64_t n, int bits, Rng& rng, float* out) {
  check_bits(bits);
  std::vector<float> scratch;
  const float clip = clip_quantile_abs(w, n, scratch);
  const int qmax = (1 << (bits - 1)) - 1;
  const float scale = clip > 0.0f ? static_cast<float>(static_cast<double>(clip) / qmax) : 1.0f;
  const float limit = static_cast<float>(qmax) * scale;
  Rng tensor_rng(rng.next_u64());
  for (int64_t i = 0; i < n; ++i) out[i] = noisy_value(w[i], clip, scale, limit, tensor_rng);
}

void fake_quantize_tensor(const std::string& name, const std::vector<int64_t>& shape, const float* w,
                          const QuantPolicy& policy, float* out, Rng* noise) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  const int bits = policy.bits_for(name);
  try {
    switch (choose_encoding(name, shape, policy)) {
      case Encoding::Fp32: std::copy(w, w + n, out); break;
      case Encoding::Fp16:
        for (int64_t i = 0; i < n; ++i) out[i] = round_to_half(w[i]);
        break;
      case Encoding::IntPerRow:
        if (noise) noisy_fake_quantize_per_row(w, shape[0], shape[1], bits, policy.clip_for(name), *noise, out);
        else fake_quantize_per_row(w, shape[0], shape[1], bits, policy.clip_for(name), out);
        break;
      case Encoding::IntPerTensor:
        if (noise) {
          noisy_fake_quantize_per_tensor(w, n, bits, *noise, out);
        } else {
          std::vector<int8_t> q(static_cast<size_t>(n));
          float scale = 1.0f;
          quantize_per_tensor(w, n, bits, q.data(), &scale);
          dequantize_per_tensor(q.data(), scale, n, out);
        }
        break;
    }
  } catch (const Error& e) {
    DG_THROW("tensor " << name << ": " << e.what());
  }
}

}  // namespace dg::quant
