// Dense symmetric positive-definite algebra for GPTQ, through the LAPACK that OpenBLAS ships
// (dpotrf/dpotri; Debian's libopenblas exports the Fortran symbols but no LAPACKE).
#pragma once

#include <cstdint>

namespace dg::quant {

// In place on a row-major n × n symmetric matrix A (both triangles read as equal): the upper
// Cholesky factor U with Uᵀ·U = A, zeros below the diagonal. Returns false (A unchanged in its
// lower triangle, garbage above) when A is not positive definite.
bool cholesky_upper(double* a, int64_t n);

// In place: A⁻¹ of a row-major symmetric positive-definite matrix, both triangles filled. Returns
// false when A is not positive definite.
bool spd_inverse(double* a, int64_t n);

}  // namespace dg::quant
