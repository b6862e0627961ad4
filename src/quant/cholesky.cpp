#include "quant/cholesky.h"

#include <cstddef>
#include <limits>

#include "core/error.h"

// LAPACK's Fortran interface as gfortran compiles it: every argument by pointer, and one hidden
// length argument per character argument, after all the others.
extern "C" {
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info, size_t uplo_len);
void dpotri_(const char* uplo, const int* n, double* a, const int* lda, int* info, size_t uplo_len);
}

namespace dg::quant {

namespace {

int lapack_size(int64_t n) {
  DG_CHECK(n >= 1 && n <= std::numeric_limits<int>::max() / 2, "matrix size " << n << " out of LAPACK's range");
  return static_cast<int>(n);
}

// A row-major matrix read column-major is its transpose, so LAPACK's lower triangle ('L') is the
// row-major upper triangle: potrf('L') returns L with L·Lᵀ = Aᵀ = A, i.e. U = Lᵀ with Uᵀ·U = A.
constexpr char kRowMajorUpper = 'L';

}  // namespace

bool cholesky_upper(double* a, int64_t n) {
  const int size = lapack_size(n);
  int info = 0;
  dpotrf_(&kRowMajorUpper, &size, a, &size, &info, 1);
  if (info != 0) return false;
  for (int64_t i = 1; i < n; ++i)
    for (int64_t j = 0; j < i; ++j) a[i * n + j] = 0.0;
  return true;
}

bool spd_inverse(double* a, int64_t n) {
  const int size = lapack_size(n);
  int info = 0;
  dpotrf_(&kRowMajorUpper, &size, a, &size, &info, 1);
  if (info != 0) return false;
  dpotri_(&kRowMajorUpper, &size, a, &size, &info, 1);
  if (info != 0) return false;
  for (int64_t i = 1; i < n; ++i)  // potri filled the row-major upper triangle: mirror it
    for (int64_t j = 0; j < i; ++j) a[i * n + j] = a[j * n + i];
  return true;
}

}  // namespace dg::quant
