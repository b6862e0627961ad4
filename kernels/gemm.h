// The project's GEMM: every matrix product of the CUDA backend goes through dg::cuda::gemm. The
// nvcc build runs it on cuBLASLt (kernels/cublaslt/gemm_cublaslt.cu); the emulator build has a CPU
// twin with the same semantics (kernels/emu/gemm_twin.cpp).
//
// Row-major, strided-batched, fp32 accumulation: for every i < batch,
//     C_i = alpha · op(A_i) · op(B_i) + beta · C_i,   op(A) [m, k], op(B) [k, n], C [m, n],
// where X_i starts X.batch_stride elements after X_{i-1} (0 repeats one A or B for every batch)
// and X.ld is the distance in elements between consecutive rows of X as stored: A is stored
// [m, k], or [k, m] when transposed; B is [k, n], or [n, k] when transposed. beta = 0 never reads
// C. Types: A and B both F32 with C F32 (full fp32, no TF32), or A and B both BF16 with C BF16 or
// F32; a BF16 C is rounded to nearest even from the fp32 result. Pointers are device memory.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace dg::cuda {

enum class GemmType : uint8_t { F32, BF16 };

struct GemmInput {
  const void* data = nullptr;
  GemmType type = GemmType::F32;
  bool transposed = false;
  int64_t ld = 0;
  int64_t batch_stride = 0;
};

struct GemmOutput {
  void* data = nullptr;
  GemmType type = GemmType::F32;
  int64_t ld = 0;
  int64_t batch_stride = 0;
};

struct Gemm {
  int64_t m = 0, n = 0, k = 0, batch = 1;
  GemmInput a, b;
  GemmOutput c;
  float alpha = 1.0f, beta = 0.0f;
};

void gemm(const Gemm& g, cudaStream_t stream = nullptr);

// Throws dg::Error naming the first problem, e.g. "gemm [m=4, n=8, k=16]: A.ld = 8 is less than
// the 16 columns of A as stored ([m, k])". gemm calls it first.
void check_gemm(const Gemm& g);

// Rows and columns of an operand as stored (row-major), for both implementations.
inline int64_t stored_rows(int64_t rows, int64_t cols, bool transposed) { return transposed ? cols : rows; }
inline int64_t stored_cols(int64_t rows, int64_t cols, bool transposed) { return transposed ? rows : cols; }

}  // namespace dg::cuda
