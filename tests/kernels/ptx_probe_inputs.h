// Fixed inputs for the ptx probes (kernels/ptx_probes.h) and what the PTX ISA says comes out,
// shared by the emulator tests, the GPU test and the probe dump.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "core/rng.h"

namespace dg::test {

inline uint16_t bf16_bits(float v) {
  const __nv_bfloat16 b = __float2bfloat16(v);
  uint16_t bits;
  std::memcpy(&bits, &b, sizeof bits);
  return bits;
}

inline double bf16_value(uint16_t bits) {
  const uint32_t widened = uint32_t{bits} << 16;
  float f;
  std::memcpy(&f, &widened, sizeof f);
  return f;
}

struct MmaInputs {
  std::vector<uint16_t> a;     // [16][16] bf16
  std::vector<uint16_t> b_nk;  // [8][16]: B[k][n] at [n][k]
  std::vector<uint16_t> b_kn;  // [16][8]: B[k][n] at [k][n]
  std::vector<float> c;        // [16][8]
};

inline MmaInputs mma_inputs(uint64_t seed) {
  Rng rng(seed);
  MmaInputs in;
  for (int i = 0; i < 256; ++i) in.a.push_back(bf16_bits(static_cast<float>(rng.normal())));
  in.b_kn.resize(128);
  in.b_nk.resize(128);
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 8; ++n) in.b_kn[k * 8 + n] = in.b_nk[n * 16 + k] = bf16_bits(static_cast<float>(rng.normal()));
  for (int i = 0; i < 128; ++i) in.c.push_back(static_cast<float>(rng.normal()));
  return in;
}

// D = A·B + C in double.
inline std::vector<double> mma_reference(const MmaInputs& in) {
  std::vector<double> d(128);
  for (int m = 0; m < 16; ++m)
    for (int n = 0; n < 8; ++n) {
      double sum = in.c[m * 8 + n];
      for (int k = 0; k < 16; ++k) sum += bf16_value(in.a[m * 16 + k]) * bf16_value(in.b_kn[k * 8 + n]);
      d[m * 8 + n] = sum;
    }
  return d;
}

// [4][8][8] tile of distinct 16-bit values (matrix, row, column).
inline std::vector<uint16_t> ldmatrix_tile() {
  std::vector<uint16_t> tile(256);
  for (int i = 0; i < 256; ++i) tile[i] = static_cast<uint16_t>(0x1000 + 7 * i);
  return tile;
}

// Register `matrix` of `lane` per the PTX ISA: row lane/4, columns 2·(lane%4) and +1 of the
// matrix (rows 2·(lane%4) and +1 of column lane/4 with .trans), the first element in the low half.
inline uint32_t ldmatrix_expected(const std::vector<uint16_t>& tile, int matrix, int lane, bool transposed) {
  auto at = [&](int row, int col) { return uint32_t{tile[matrix * 64 + row * 8 + col]}; };
  const int g = lane / 4, t = lane % 4;
  return transposed ? at(2 * t, g) | at(2 * t + 1, g) << 16 : at(g, 2 * t) | at(g, 2 * t + 1) << 16;
}

}  // namespace dg::test
