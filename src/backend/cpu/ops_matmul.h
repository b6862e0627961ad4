// C = alpha · op(A) · op(B) + beta · C on row-major matrices, C [m, n], op(A) [m, k], op(B) [k, n].
// A is stored [m, k] (or [k, m] when trans_a), B is stored [k, n] (or [n, k] when trans_b).
// beta = 0 never reads C, as BLAS. float goes to OpenBLAS cblas_sgemm; double is a plain loop
// (the gradient-check reference, not a fast path).
//
// Threading: the CPU backend runs every parallel loop on one OpenMP pool. OpenBLAS's own thread
// pool is set to one thread on first use, and gemm splits C across the OpenMP threads instead, so
// the two pools never spin against each other for the same cores.
#pragma once

#include <cstdint>

namespace dg::cpu {

// Packed operands (leading dimension = row length); parallel across OpenMP threads.
template <class Real>
void gemm(Real* c, const Real* a, bool trans_a, const Real* b, bool trans_b, int64_t m, int64_t n, int64_t k,
          Real alpha, Real beta);

// Explicit leading dimensions (row strides, in elements) for views into larger tensors, e.g. one
// head of a [B, T, H, hd] tensor (ld = H·hd). Runs on the calling thread only.
template <class Real>
void gemm_strided(Real* c, int64_t ldc, const Real* a, int64_t lda, bool trans_a, const Real* b, int64_t ldb,
                  bool trans_b, int64_t m, int64_t n, int64_t k, Real alpha, Real beta);

}  // namespace dg::cpu
