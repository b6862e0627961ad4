// exp and tanh over rows of floats, written with GCC/Clang vector types so they are vectorised for
// certain: libm's expf/tanhf are opaque calls, and plain loops around a polynomial version are not
// vectorised either under the default -ftrapping-math (GCC turns the clamps into branches). The
// float math is Cephes-style range reduction + minimax polynomials, within 1 ulp of libm (tested).
// The double overloads use libm directly: they exist for the gradient checks, where accuracy
// matters and speed does not.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace dg::cpu {

// 16-byte vectors: native on the x86-64 (SSE2) and AArch64 baselines, so no ABI caveats.
using f32v = float __attribute__((vector_size(16)));
using i32v = int32_t __attribute__((vector_size(16)));
inline constexpr int64_t kLanes = 4;

inline f32v splat(float x) { return f32v{} + x; }
inline f32v load_lanes(const float* p) {
  f32v v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_lanes(float* p, f32v v) { std::memcpy(p, &v, sizeof v); }
// First n < kLanes elements, the rest filled with `pad`.
inline f32v load_partial(const float* p, int64_t n, float pad) {
  f32v v = splat(pad);
  for (int64_t i = 0; i < n; ++i) v[i] = p[i];
  return v;
}
inline void store_partial(float* p, f32v v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) p[i] = v[i];
}
inline float horizontal_sum(f32v v) {
  float s = 0.0f;
  for (int i = 0; i < kLanes; ++i) s += v[i];
  return s;
}
inline float horizontal_max(f32v v) {
  float m = v[0];
  for (int i = 1; i < kLanes; ++i) m = std::max(m, v[i]);
  return m;
}
inline f32v select(i32v mask, f32v a, f32v b) { return mask ? a : b; }

// A NaN input gives NaN: the clamps and selects below compare false on NaN and would otherwise turn
// it into a finite number, hiding a diverged run (NaN logits became a uniform distribution).
inline f32v keep_nan(f32v x, f32v result) { return select(x != x, x, result); }

// e^x per lane. Below −87 the result would leave the normal range: it is exactly 0 there (also for
// −inf). Above 88 it saturates at e^88 instead of overflowing to inf. NaN stays NaN.
inline f32v vexp(f32v x) {
  const f32v input = x;
  const f32v lo = splat(-87.0f), hi = splat(88.0f);
  const i32v underflow = x < lo;
  x = select(x < lo, lo, x);
  x = select(x > hi, hi, x);
  // n = round(x / ln 2) by the 1.5·2^23 shifter trick; r = x − n·ln 2 in two pieces (exact high part).
  const f32v shifter = splat(12582912.0f);
  const f32v n = (x * 1.44269504088896341f + shifter) - shifter;
  f32v r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  const f32v r2 = r * r;
  f32v p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  // 2^n from the exponent bits; the clamp keeps n in [−126, 127], the normal range.
  const i32v bits = (__builtin_convertvector(n, i32v) + 127) << 23;
  f32v two_n;
  std::memcpy(&two_n, &bits, sizeof two_n);
  return keep_nan(input, select(underflow, splat(0.0f), p * two_n));
}

// tanh per lane; NaN stays NaN.
inline f32v vtanh(f32v x) {
  const f32v ax = select(x < 0.0f, -x, x);
  // Small |x|: odd polynomial (1 − 2/(e^{2x}+1) would cancel catastrophically near 0).
  const f32v z = x * x;
  f32v p = splat(-5.70498872745e-3f);
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const f32v small = p * z * x + x;
  // Large |x|: 1 − 2/(e^{2|x|}+1), which saturates to exactly 1.
  const f32v e = vexp(2.0f * select(ax < 44.0f, ax, splat(44.0f)));
  const f32v big_abs = 1.0f - 2.0f / (e + 1.0f);
  const f32v big = select(x < 0.0f, -big_abs, big_abs);
  return keep_nan(x, select(ax < 0.625f, small, big));
}

inline float vexp(float x) { return vexp(splat(x))[0]; }
inline float vtanh(float x) { return vtanh(splat(x))[0]; }
inline double vexp(double x) { return std::exp(x); }
inline double vtanh(double x) { return std::tanh(x); }

// ---- row helpers: the float versions run kLanes at a time, the tail through the same lanes ----

// max_j x[j] (−inf for n = 0).
inline float row_max(const float* x, int64_t n) {
  f32v m = splat(-INFINITY);
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    const f32v v = load_lanes(x + j);
    m = select(v > m, v, m);
  }
  const f32v v = load_partial(x + j, n - j, -INFINITY);
  m = select(v > m, v, m);
  return horizontal_max(m);
}
inline double row_max(const double* x, int64_t n) {
  double m = -INFINITY;
  for (int64_t j = 0; j < n; ++j) m = std::max(m, x[j]);
  return m;
}

// x[j] ← e^(x[j] − shift); returns Σ_j of the new values.
inline float exp_shift_sum(float* x, int64_t n, float shift) {
  f32v sum = splat(0.0f);
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    const f32v e = vexp(load_lanes(x + j) - shift);
    store_lanes(x + j, e);
    sum += e;
  }
  if (j < n) {
    const f32v e = vexp(load_partial(x + j, n - j, -INFINITY) - shift);  // padding lanes give 0
    store_partial(x + j, e, n - j);
    sum += e;
  }
  return horizontal_sum(sum);
}
inline double exp_shift_sum(double* x, int64_t n, double shift) {
  double sum = 0.0;
  for (int64_t j = 0; j < n; ++j) sum += (x[j] = std::exp(x[j] - shift));
  return sum;
}

// th[j] = tanh(z[j] / cap), capped[j] = cap·th[j]; returns max_j capped[j].
inline float softcap_row(float* capped, float* th, const float* z, int64_t n, float cap) {
  f32v m = splat(-INFINITY);
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    const f32v t = vtanh(load_lanes(z + j) / cap);
    const f32v c = cap * t;
    store_lanes(th + j, t);
    store_lanes(capped + j, c);
    m = select(c > m, c, m);
  }
  if (j < n) {
    const f32v t = vtanh(load_partial(z + j, n - j, 0.0f) / cap);
    const i32v lane = {0, 1, 2, 3};
    const f32v c = select(lane < static_cast<int32_t>(n - j), cap * t, splat(-INFINITY));  // padding never wins
    store_partial(th + j, t, n - j);
    store_partial(capped + j, c, n - j);
    m = select(c > m, c, m);
  }
  return horizontal_max(m);
}
inline double softcap_row(double* capped, double* th, const double* z, int64_t n, double cap) {
  double m = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    th[j] = std::tanh(z[j] / cap);
    capped[j] = cap * th[j];
    m = std::max(m, capped[j]);
  }
  return m;
}

}  // namespace dg::cpu
