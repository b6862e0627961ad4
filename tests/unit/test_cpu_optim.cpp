// Optimizer kernels: Adam against values worked out by hand from torch.optim.Adam's update rule,
// and Newton–Schulz against an independent double-precision loop of train_gpt.py's iteration,
// plus the property Muon relies on (singular values pushed into a band around 1).
#include <gtest/gtest.h>

#include <cmath>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/ops_optim.h"
#include "cpu_test_util.h"

namespace dg::test {
namespace {

using FVec = std::vector<float>;
using Vec = std::vector<double>;

// Two Adam steps on p = (1, −2, 0.5) with grads (0.5, 0, −3) then (−0.25, 1, 2), lr 0.1, betas
// (0.9, 0.95). Step 1 for p0: m = 0.05, v = 0.0125, m̂ = 0.5, v̂ = 0.25 → p0 = 1 − 0.1·0.5/(0.5 + eps).
// Step 2: m = 0.02, v = 0.015, m̂ = 0.02/0.19, v̂ = 0.015/0.0975 → p0 −= 0.1·m̂/(sqrt(v̂) + eps).
// A large eps (0.1) pins where eps enters: after the bias-corrected sqrt, not inside it.
void run_adam(float eps, const Vec& after_one, const Vec& after_two) {
  auto backend = make_cpu_backend();
  FVec p = {1.0f, -2.0f, 0.5f}, m(3), v(3);
  FVec g1 = {0.5f, 0.0f, -3.0f}, g2 = {-0.25f, 1.0f, 2.0f};
  AdamHyper hyper;
  hyper.lr = 0.1f;
  hyper.beta1 = 0.9f;
  hyper.beta2 = 0.95f;
  hyper.eps = eps;
  hyper.step = 1;
  backend->adam_update(view(p, {3}), view(g1, {3}), view(m, {3}), view(v, {3}), hyper);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(p[i], after_one[i], 2e-7) << "step 1, element " << i;
  // AdamHyper holds float betas, so 1 − β1 is 1 − 0.9f (as in torch's fused kernel): 2e-7 relative.
  EXPECT_NEAR(m[0], 0.05f, 2e-8f);
  EXPECT_NEAR(v[0], 0.0125f, 2e-8f);
  hyper.step = 2;
  backend->adam_update(view(p, {3}), view(g2, {3}), view(m, {3}), view(v, {3}), hyper);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(p[i], after_two[i], 2e-7) << "step 2, element " << i;
}

TEST(CpuOptim, AdamTwoStepsSmallEps) {
  run_adam(1e-8f, {0.900000002, -2.0, 0.599999999667}, {0.873163057876, -2.073495999204, 0.614522449340});
}

TEST(CpuOptim, AdamTwoStepsLargeEps) {
  run_adam(0.1f, {0.916666666667, -2.0, 0.596774193548}, {0.895281811538, -2.064490405238, 0.610745905259});
}

// train_gpt.py's zeropower_via_newtonschulz5, written out directly in double: no BLAS, no kernel code.
Vec newton_schulz_reference(const Vec& g, int64_t rows, int64_t cols, int steps) {
  const bool transposed = rows > cols;
  const int64_t r = transposed ? cols : rows, c = transposed ? rows : cols;
  double norm = 0.0;
  for (double x : g) norm += x * x;
  norm = std::sqrt(norm) + 1e-7;
  Vec x(r * c);
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j) x[i * c + j] = (transposed ? g[j * cols + i] : g[i * cols + j]) / norm;
  const double a = 3.4445, b = -4.7750, cc = 2.0315;
  for (int s = 0; s < steps; ++s) {
    Vec gram(r * r, 0.0), poly(r * r, 0.0), next(r * c, 0.0);
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < r; ++j)
        for (int64_t p = 0; p < c; ++p) gram[i * r + j] += x[i * c + p] * x[j * c + p];
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < r; ++j) {
        double aa = 0.0;
        for (int64_t p = 0; p < r; ++p) aa += gram[i * r + p] * gram[p * r + j];
        poly[i * r + j] = b * gram[i * r + j] + cc * aa;
      }
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < c; ++j) {
        double bx = 0.0;
        for (int64_t p = 0; p < r; ++p) bx += poly[i * r + p] * x[p * c + j];
        next[i * c + j] = a * x[i * c + j] + bx;
      }
    x = next;
  }
  Vec out(rows * cols);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) out[i * cols + j] = transposed ? x[j * c + i] : x[i * c + j];
  return out;
}

// Eigenvalues of a small symmetric matrix by cyclic Jacobi rotations.
Vec symmetric_eigenvalues(Vec a, int64_t n) {
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0.0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j) off += a[i * n + j] * a[i * n + j];
    if (off < 1e-22) break;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) {
        if (std::abs(a[p * n + q]) < 1e-300) continue;
        const double theta = (a[q * n + q] - a[p * n + p]) / (2.0 * a[p * n + q]);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1.0));
        const double cs = 1.0 / std::sqrt(t * t + 1.0), sn = t * cs;
        for (int64_t k = 0; k < n; ++k) {  // rotate columns p, q
          const double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = cs * akp - sn * akq;
          a[k * n + q] = sn * akp + cs * akq;
        }
        for (int64_t k = 0; k < n; ++k) {  // rotate rows p, q
          const double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = cs * apk - sn * aqk;
          a[q * n + k] = sn * apk + cs * aqk;
        }
      }
  }
  Vec eig(n);
  for (int64_t i = 0; i < n; ++i) eig[i] = a[i * n + i];
  return eig;
}

FVec run_backend_ns(const Vec& g, int64_t rows, int64_t cols, int steps) {
  auto backend = make_cpu_backend();
  FVec fg = to_float(g), out(rows * cols), work(cpu::newton_schulz_workspace(rows, cols));
  backend->newton_schulz(view(out, {rows, cols}), view(fg, {rows, cols}), steps,
                         view(work, {static_cast<int64_t>(work.size())}));
  return out;
}

TEST(CpuOptim, NewtonSchulzMatchesDoubleReference) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{12, 40}, {40, 12}, {24, 24}}) {
    SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols));
    const Vec g = to_double(to_float(random_vector(rows * cols, 40 + rows, -3.0, 3.0)));
    const FVec out = run_backend_ns(g, rows, cols, 5);
    expect_close("NS5", out, newton_schulz_reference(g, rows, cols, 5), 1e-4);
    const FVec zero_steps = run_backend_ns(g, rows, cols, 0);
    expect_close("NS0 is the normalised input", zero_steps, newton_schulz_reference(g, rows, cols, 0), 1e-6);
  }
}

TEST(CpuOptim, NewtonSchulzTransposedCaseIsTransposeOfWideCase) {
  const int64_t rows = 30, cols = 10;
  const Vec g = random_vector(rows * cols, 50);
  Vec gt(rows * cols);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) gt[j * rows + i] = g[i * cols + j];
  const FVec tall = run_backend_ns(g, rows, cols, 5), wide = run_backend_ns(gt, cols, rows, 5);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) EXPECT_FLOAT_EQ(tall[i * cols + j], wide[j * rows + i]);
}

TEST(CpuOptim, NewtonSchulzSingularValuesLandNearOne) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{16, 48}, {48, 16}}) {
    SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols));
    const Vec g = random_vector(rows * cols, 60);
    const FVec x = run_backend_ns(g, rows, cols, 5);
    // Singular values of X are the square roots of the eigenvalues of the small Gram matrix.
    const int64_t r = std::min(rows, cols);
    Vec gram(r * r, 0.0);
    for (int64_t i = 0; i < r; ++i)
      for (int64_t j = 0; j < r; ++j)
        for (int64_t p = 0; p < std::max(rows, cols); ++p)
          gram[i * r + j] += rows <= cols ? double(x[i * cols + p]) * x[j * cols + p]
                                          : double(x[p * cols + i]) * x[p * cols + j];
    for (double e : symmetric_eigenvalues(gram, r)) {
      const double sigma = std::sqrt(std::max(e, 0.0));
      EXPECT_GT(sigma, 0.6);
      EXPECT_LT(sigma, 1.25);
    }
  }
}

}  // namespace
}  // namespace dg::test
