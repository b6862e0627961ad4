#include "backend/cpu/ops_matmul.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>


namespace dg::cpu {
namespace {

void use_single_threaded_blas() {
  static const bool done = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)done;
}

// Below this many multiply-adds a split across threads costs more than it saves.
constexpr int64_t kParallelGemmWork = int64_t{1} << 18;

}  // namespace

template <>
void gemm_strided<float>(float* c, int64_t ldc, const float* a, int64_t lda, bool trans_a, const float* b,
                         int64_t ldb, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, float beta) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // only the beta scaling remains; some BLAS builds reject k = 0 with lda checks
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    return;
  }
  use_single_threaded_blas();
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
              static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

template <>
void gemm_strided<double>(double* c, int64_t ldc, const double* a, int64_t lda, bool trans_a, const double* b,
                          int64_t ldb, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, double beta) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        const double av = trans_a ? a[p * lda + i] : a[i * lda + p];
        const double bv = trans_b ? b[j * ldb + p] : b[p * ldb + j];
        sum += av * bv;
      }
      double& out = c[i * ldc + j];
      out = beta == 0.0 ? alpha * sum : alpha * sum + beta * out;
    }
  }
}

template <class Real>
void gemm(Real* c, const Real* a, bool trans_a, const Real* b, bool trans_b, int64_t m, int64_t n, int64_t k,
          Real alpha, Real beta) {
  const int64_t lda = trans_a ? m : k, ldb = trans_b ? k : n;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads <= 1 || m * n * k < kParallelGemmWork) {
    gemm_strided<Real>(c, n, a, lda, trans_a, b, ldb, trans_b, m, n, k, alpha, beta);
    return;
  }
  // Split the longer side of C into one slab per thread (multiples of 16 keep BLAS panels whole).
  const bool split_rows = m >= n;
  const int64_t extent = split_rows ? m : n;
  const int64_t step = std::max<int64_t>(16, (extent / threads + 15) / 16 * 16);
  const int64_t slabs = (extent + step - 1) / step;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t s = 0; s < slabs; ++s) {
    const int64_t begin = s * step, size = std::min(extent, begin + step) - begin;
    if (split_rows) {
      const Real* a_slab = trans_a ? a + begin : a + begin * lda;
      gemm_strided<Real>(c + begin * n, n, a_slab, lda, trans_a, b, ldb, trans_b, size, n, k, alpha, beta);
    } else {
      const Real* b_slab = trans_b ? b + begin * ldb : b + begin;
      gemm_strided<Real>(c + begin, n, a, lda, trans_a, b_slab, ldb, trans_b, m, size, k, alpha, beta);
    }
  }
}

template void gemm<float>(float*, const float*, bool, const float*, bool, int64_t, int64_t, int64_t, float, float);
template void gemm<double>(double*, const double*, bool, const double*, bool, int64_t, int64_t, int64_t, double,
                           double);

}  // namespace dg::cpu
