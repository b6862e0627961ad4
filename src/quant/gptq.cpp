#include "quant/gptq.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "quant/cholesky.h"

namespace dg::quant {

namespace {

constexpr double kMaxDamping = 1.0;

// The column order: descending diag(H) (stable, so ties keep their index order), or the identity.
std::vector<int64_t> column_order(const std::vector<double>& h, int64_t cols, bool act_order) {
  std::vector<int64_t> order(static_cast<size_t>(cols));
  std::iota(order.begin(), order.end(), int64_t{0});
  if (act_order)
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return h[static_cast<size_t>(a * cols + a)] > h[static_cast<size_t>(b * cols + b)]; });
  return order;
}

// U with Uᵀ·U = (H + λI)⁻¹, trying larger damping when H + λI is not positive definite.
std::vector<double> inverse_cholesky(const std::vector<double>& h, int64_t n, double damping, double* used) {
  double mean_diag = 0.0;
  for (int64_t i = 0; i < n; ++i) mean_diag += h[static_cast<size_t>(i * n + i)];
  mean_diag /= static_cast<double>(n);
  for (double d = damping; d <= kMaxDamping * (1 + 1e-12); d *= 10.0) {
    std::vector<double> a = h;
    for (int64_t i = 0; i < n; ++i) a[static_cast<size_t>(i * n + i)] += d * mean_diag;
    if (spd_inverse(a.data(), n) && cholesky_upper(a.data(), n)) {
      *used = d;
      return a;
    }
    if (d == 0.0) break;
  }
  DG_THROW("GPTQ: the Hessian is not positive definite even with damping " << kMaxDamping
                                                                           << " (calibration inputs degenerate?)");
}

}  // namespace

GptqReport gptq_quantize(const float* w, int64_t rows, int64_t cols, const double* hessian, const float* scales,
                         int qmax, const GptqOptions& options, int8_t* q) {
  DG_CHECK(rows >= 1 && cols >= 1, "GPTQ needs a non-empty matrix, got " << rows << "x" << cols);
  DG_CHECK(qmax >= 1 && qmax <= 127, "GPTQ: qmax " << qmax << " out of range");
  DG_CHECK(options.block_size >= 1, "GPTQ: block size must be positive");
  DG_CHECK(options.damping >= 0.0 && options.damping <= kMaxDamping, "GPTQ: damping " << options.damping
                                                                                       << " must be in [0, 1]");
  for (int64_t r = 0; r < rows; ++r)
    DG_CHECK(std::isfinite(scales[r]) && scales[r] > 0.0f, "GPTQ: row " << r << " has scale " << scales[r]);
  GptqReport report;
  const auto n = static_cast<size_t>(cols);

  // 1. Dead inputs: their weights cannot matter on the calibration data; zero them so the
  // permuted H stays invertible.
  std::vector<double> h(hessian, hessian + n * n);
  std::vector<bool> dead(n, false);
  for (size_t j = 0; j < n; ++j)
    if (h[j * n + j] == 0.0) {
      h[j * n + j] = 1.0;
      dead[j] = true;
      ++report.dead_columns;
    }

  // 2. Permute W's columns and H's rows and columns into processing order.
  const std::vector<int64_t> order = column_order(h, cols, options.act_order);
  std::vector<double> hp(n * n);
  for (size_t a = 0; a < n; ++a)
    for (size_t b = 0; b < n; ++b) hp[a * n + b] = h[static_cast<size_t>(order[a]) * n + static_cast<size_t>(order[b])];
  std::vector<double> wp(static_cast<size_t>(rows) * n);
  for (int64_t r = 0; r < rows; ++r)
    for (size_t a = 0; a < n; ++a) {
      const auto src = static_cast<size_t>(order[a]);
      wp[static_cast<size_t>(r) * n + a] = dead[src] ? 0.0 : static_cast<double>(w[static_cast<size_t>(r) * n + src]);
    }

  // 3–4. U = chol((H + λI)⁻¹), upper.
  const std::vector<double> u = inverse_cholesky(hp, cols, options.damping, &report.damping);

  // 5. Blocked column sweep.
  std::vector<int8_t> qp(static_cast<size_t>(rows) * n);
  const int64_t block = options.block_size;
  std::vector<double> err(static_cast<size_t>(rows * block));
  const auto qmax_d = static_cast<double>(qmax);
  for (int64_t i1 = 0; i1 < cols; i1 += block) {
    const int64_t i2 = std::min(i1 + block, cols);
    const int64_t width = i2 - i1;
    for (int64_t i = i1; i < i2; ++i) {
      const double d = u[static_cast<size_t>(i) * n + static_cast<size_t>(i)];
      for (int64_t r = 0; r < rows; ++r) {
        double* row = wp.data() + static_cast<size_t>(r) * n;
        const double s = scales[r];
        const double value = std::clamp(std::nearbyint(row[i] / s), -qmax_d, qmax_d);
        qp[static_cast<size_t>(r) * n + static_cast<size_t>(i)] = static_cast<int8_t>(value);
        const double e = (row[i] - value * s) / d;
        err[static_cast<size_t>(r * block + (i - i1))] = e;
        const double* urow = u.data() + static_cast<size_t>(i) * n;
        for (int64_t j = i + 1; j < i2; ++j) row[j] -= e * urow[j];
      }
    }
    if (i2 < cols)  // W[:, i2:] −= Err[:, block] · U[i1:i2, i2:]
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows), static_cast<int>(cols - i2),
                  static_cast<int>(width), -1.0, err.data(), static_cast<int>(block),
                  u.data() + static_cast<size_t>(i1) * n + static_cast<size_t>(i2), static_cast<int>(cols), 1.0,
                  wp.data() + static_cast<size_t>(i2), static_cast<int>(cols));
  }

  // Undo the permutation.
  for (int64_t r = 0; r < rows; ++r)
    for (size_t a = 0; a < n; ++a)
      q[static_cast<size_t>(r) * n + static_cast<size_t>(order[a])] = qp[static_cast<size_t>(r) * n + a];
  return report;
}

double hessian_error(const float* w, int64_t rows, int64_t cols, const double* hessian, const int8_t* q,
                     const float* scales) {
  const auto n = static_cast<size_t>(cols);
  std::vector<double> d(static_cast<size_t>(rows) * n), dh(d.size());
  for (int64_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < n; ++c) {
      const size_t i = static_cast<size_t>(r) * n + c;
      d[i] = static_cast<double>(w[i]) - static_cast<double>(q[i]) * static_cast<double>(scales[r]);
    }
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows), static_cast<int>(cols),
              static_cast<int>(cols), 1.0, d.data(), static_cast<int>(cols), hessian, static_cast<int>(cols), 0.0, dh.data(),
              static_cast<int>(cols));
  double total = 0.0;
  for (size_t i = 0; i < d.size(); ++i) total += d[i] * dh[i];
  return total;
}

}  // namespace dg::quant
