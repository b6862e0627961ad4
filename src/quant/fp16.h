// IEEE half precision (fp16) conversions, bit-exact with PyTorch's `tensor.to(torch.float16)` and
// back: float → half rounds to nearest, ties to even (subnormals and overflow to ±inf included).
// The artifact stores per-row scales and small tensors this way, so these two functions decide
// what a dequantized weight is.
#pragma once

#include <bit>
#include <cstdint>

namespace dg::quant {

inline uint16_t float_to_half_bits(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude >= 0x7f800000u) {  // inf stays inf; NaN stays a (quiet) NaN with its top payload bits
    const bool is_nan = magnitude > 0x7f800000u;
    return static_cast<uint16_t>(sign | 0x7c00u | (is_nan ? 0x0200u | ((magnitude >> 13) & 0x03ffu) : 0u));
  }
  // 65520 is halfway between the largest half (65504, odd mantissa) and 65536: ties to even → inf.
  if (magnitude >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
  if (magnitude >= 0x38800000u) {  // >= 2^-14: a normal half. Re-bias the exponent, round the 13 dropped bits.
    magnitude -= 112u << 23;
    magnitude += 0x0fffu + ((magnitude >> 13) & 1u);  // a carry may ripple into the exponent: still correct
    return static_cast<uint16_t>(sign | (magnitude >> 13));
  }
  // Subnormal half (or zero): the result is round(value / 2^-24).
  const uint32_t exponent = magnitude >> 23;
  if (exponent < 102) return sign;  // below 2^-25: rounds to zero (float subnormals included)
  const uint32_t mantissa = (magnitude & 0x007fffffu) | 0x00800000u;
  const uint32_t shift = 126u - exponent;  // 14..24
  uint32_t half_mantissa = mantissa >> shift;
  const uint32_t remainder = mantissa & ((1u << shift) - 1u);
  const uint32_t halfway = 1u << (shift - 1u);
  if (remainder > halfway || (remainder == halfway && (half_mantissa & 1u))) ++half_mantissa;
  return static_cast<uint16_t>(sign | half_mantissa);  // 1024 correctly becomes the smallest normal
}

inline float half_bits_to_float(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1fu;
  const uint32_t mantissa = half & 0x03ffu;
  if (exponent == 0) {  // zero or subnormal: mantissa · 2^-24, exact in float
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

// The float a value becomes after a round trip through fp16.
inline float round_to_half(float value) { return half_bits_to_float(float_to_half_bits(value)); }

}  // namespace dg::quant
