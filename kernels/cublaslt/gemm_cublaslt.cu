// dg::cuda::gemm on cuBLASLt (nvcc build only; the emulator build has kernels/emu/gemm_twin.cpp).
// cuBLASLt is column-major: a row-major matrix is its transpose in column-major order, so the
// row-major C = op(A)·op(B) is computed as the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, with B in
// cuBLASLt's A slot and A in its B slot.
#include <cublasLt.h>

#include <mutex>

#include "core/error.h"
#include "cuda_check.cuh"
#include "gemm.h"

#define DG_CUBLASLT_CHECK(call)                                                                 \
  do {                                                                                          \
    const cublasStatus_t dg_cublaslt_status_ = (call);                                          \
    DG_CHECK(dg_cublaslt_status_ == CUBLAS_STATUS_SUCCESS,                                      \
             "cuBLASLt error in " #call ": " << cublasLtGetStatusString(dg_cublaslt_status_)); \
  } while (0)

namespace dg::cuda {
namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;

// One handle and workspace per process (one process drives one GPU).
struct LtContext {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
};

LtContext& lt_context() {
  static LtContext context;
  static std::once_flag once;
  std::call_once(once, [] {
    DG_CUBLASLT_CHECK(cublasLtCreate(&context.handle));
    DG_CUDA_CHECK(cudaMalloc(&context.workspace, kWorkspaceBytes));
  });
  return context;
}

cudaDataType_t data_type(GemmType t) { return t == GemmType::BF16 ? CUDA_R_16BF : CUDA_R_32F; }

class Layout {
 public:
  // A column-major rows × cols matrix (a row-major cols × rows one) with leading dimension ld.
  Layout(GemmType type, int64_t rows, int64_t cols, int64_t ld, int64_t batch, int64_t batch_stride) {
    DG_CUBLASLT_CHECK(cublasLtMatrixLayoutCreate(&layout_, data_type(type), static_cast<uint64_t>(rows),
                                                 static_cast<uint64_t>(cols), ld));
    const int32_t count = static_cast<int32_t>(batch);
    DG_CUBLASLT_CHECK(
        cublasLtMatrixLayoutSetAttribute(layout_, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count));
    DG_CUBLASLT_CHECK(cublasLtMatrixLayoutSetAttribute(layout_, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                       &batch_stride, sizeof batch_stride));
  }
  ~Layout() { cublasLtMatrixLayoutDestroy(layout_); }
  Layout(const Layout&) = delete;
  Layout& operator=(const Layout&) = delete;
  cublasLtMatrixLayout_t get() const { return layout_; }

 private:
  cublasLtMatrixLayout_t layout_ = nullptr;
};

class MatmulDesc {
 public:
  MatmulDesc(bool transpose_a, bool transpose_b) {
    // fp32 accumulation and scaling; CUBLAS_COMPUTE_32F keeps fp32 inputs in full fp32 (no TF32).
    DG_CUBLASLT_CHECK(cublasLtMatmulDescCreate(&desc_, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const int32_t op_a = transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    const int32_t op_b = transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    DG_CUBLASLT_CHECK(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof op_a));
    DG_CUBLASLT_CHECK(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof op_b));
  }
  ~MatmulDesc() { cublasLtMatmulDescDestroy(desc_); }
  MatmulDesc(const MatmulDesc&) = delete;
  MatmulDesc& operator=(const MatmulDesc&) = delete;
  cublasLtMatmulDesc_t get() const { return desc_; }

 private:
  cublasLtMatmulDesc_t desc_ = nullptr;
};

class Preference {
 public:
  Preference() {
    DG_CUBLASLT_CHECK(cublasLtMatmulPreferenceCreate(&preference_));
    const uint64_t bytes = kWorkspaceBytes;
    DG_CUBLASLT_CHECK(cublasLtMatmulPreferenceSetAttribute(preference_, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                           &bytes, sizeof bytes));
  }
  ~Preference() { cublasLtMatmulPreferenceDestroy(preference_); }
  Preference(const Preference&) = delete;
  Preference& operator=(const Preference&) = delete;
  cublasLtMatmulPreference_t get() const { return preference_; }

 private:
  cublasLtMatmulPreference_t preference_ = nullptr;
};

}  // namespace

void gemm(const Gemm& g, cudaStream_t stream) {
  check_gemm(g);
  LtContext& lt = lt_context();
  // cuBLASLt's A is our B: stored row-major [k, n] (or [n, k]), i.e. column-major n × k (or k × n).
  const Layout lt_a(g.b.type, g.b.transposed ? g.k : g.n, g.b.transposed ? g.n : g.k, g.b.ld, g.batch,
                    g.b.batch_stride);
  // cuBLASLt's B is our A: stored row-major [m, k] (or [k, m]), i.e. column-major k × m (or m × k).
  const Layout lt_b(g.a.type, g.a.transposed ? g.m : g.k, g.a.transposed ? g.k : g.m, g.a.ld, g.batch,
                    g.a.batch_stride);
  const Layout lt_c(g.c.type, g.n, g.m, g.c.ld, g.batch, g.c.batch_stride);
  const MatmulDesc desc(g.b.transposed, g.a.transposed);
  const Preference preference;
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  DG_CUBLASLT_CHECK(cublasLtMatmulAlgoGetHeuristic(lt.handle, desc.get(), lt_a.get(), lt_b.get(), lt_c.get(),
                                                   lt_c.get(), preference.get(), 1, &heuristic, &found));
  DG_CHECK(found > 0, "gemm [m=" << g.m << ", n=" << g.n << ", k=" << g.k << ", batch=" << g.batch
                                 << "]: cuBLASLt has no algorithm for these types, layouts and strides");
  DG_CUBLASLT_CHECK(cublasLtMatmul(lt.handle, desc.get(), &g.alpha, g.b.data, lt_a.get(), g.a.data, lt_b.get(),
                                   &g.beta, g.c.data, lt_c.get(), g.c.data, lt_c.get(), &heuristic.algo, lt.workspace,
                                   kWorkspaceBytes, stream));
}

}  // namespace dg::cuda
