// Shared helpers for the CPU backend tests: seeded random data, float/double conversion, tensor
// views over std::vectors, and the finite-difference gradient checker used by every op test.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "backend/tensor.h"

namespace dg::test {

inline std::vector<double> random_vector(int64_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> out(static_cast<size_t>(n));
  for (double& x : out) x = dist(rng);
  return out;
}

// Values in ±[lo, hi]: keeps relu² inputs away from its kink at 0.
inline std::vector<double> random_away_from_zero(int64_t n, uint64_t seed, double lo = 0.1, double hi = 1.0) {
  std::vector<double> out = random_vector(n, seed, lo, hi);
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
  for (double& x : out)
    if (rng() & 1) x = -x;
  return out;
}

inline std::vector<int32_t> random_ids(int64_t n, int32_t limit, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> out(static_cast<size_t>(n));
  for (int32_t& x : out) x = static_cast<int32_t>(rng() % static_cast<uint64_t>(limit));
  return out;
}

inline std::vector<float> to_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }
inline std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

inline Tensor view(std::vector<float>& v, std::initializer_list<int64_t> dims) { return Tensor::f32(v.data(), dims); }
inline Tensor view(std::vector<int32_t>& v, std::initializer_list<int64_t> dims) {
  return Tensor::i32(v.data(), dims);
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Central differences of `loss` with respect to every element of `input` (perturbed in place and
// restored), compared with `analytic`: |fd − analytic| ≤ tol · max(1, max|analytic|).
inline void expect_gradient(const std::string& what, std::vector<double>& input, const std::vector<double>& analytic,
                            const std::function<double()>& loss, double tol = 1e-6, double h = 1e-6) {
  ASSERT_EQ(input.size(), analytic.size()) << what;
  double scale = 1.0;
  for (double g : analytic) scale = std::max(scale, std::abs(g));
  int failures = 0;
  for (size_t i = 0; i < input.size(); ++i) {
    const double saved = input[i];
    input[i] = saved + h;
    const double plus = loss();
    input[i] = saved - h;
    const double minus = loss();
    input[i] = saved;
    const double fd = (plus - minus) / (2.0 * h);
    if (std::abs(fd - analytic[i]) > tol * scale && failures++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: finite difference " << fd << " vs analytic " << analytic[i];
  }
  EXPECT_EQ(failures, 0) << what << ": " << failures << " of " << input.size() << " elements differ";
}

// max_i |a_i − b_i| ≤ tol · max(1e-3, max_i |b_i|): float results against the double reference.
inline void expect_close(const std::string& what, const std::vector<float>& a, const std::vector<double>& b,
                         double tol = 1e-5) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double scale = 1e-3, worst = 0.0;
  size_t worst_index = 0;
  for (double x : b) scale = std::max(scale, std::abs(x));
  for (size_t i = 0; i < a.size(); ++i) {
    const double err = std::abs(static_cast<double>(a[i]) - b[i]);
    if (err > worst) worst = err, worst_index = i;
  }
  EXPECT_LE(worst, tol * scale) << what << ": worst at [" << worst_index << "] float " << a[worst_index]
                                << " vs double " << b[worst_index] << " (scale " << scale << ")";
}

}  // namespace dg::test
