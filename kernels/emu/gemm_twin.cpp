// The emulator's twin of dg::cuda::gemm (kernels/gemm.h): the same row-major, strided-batched
// semantics on the CPU with OpenBLAS sgemm (fp32 accumulation), bf16 inputs widened exactly and
// bf16 outputs rounded to nearest even from the fp32 result, as cuBLASLt's epilogue does.
#include <cblas.h>
#include <cuda_bf16.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "emu/device_memory.h"
#include "emu/streams.h"
#include "gemm.h"

namespace dg::cuda {
namespace {

size_t element_bytes(GemmType t) { return t == GemmType::BF16 ? 2 : 4; }

// The device bytes one operand spans across all batches must be live device memory.
void check_extent(const char* name, const void* data, GemmType type, int64_t rows, int64_t cols, int64_t ld,
                  int64_t batch, int64_t batch_stride) {
  const int64_t elements = (batch - 1) * batch_stride + (rows - 1) * ld + cols;
  const std::string problem =
      emu::check_device_range(data, static_cast<size_t>(elements) * element_bytes(type), name);
  DG_CHECK(problem.empty(), "gemm: " << problem);
}

// A stored rows × cols operand (row stride ld) as dense fp32.
const float* as_f32(const void* data, GemmType type, int64_t rows, int64_t cols, int64_t ld,
                    std::vector<float>& scratch, int64_t* dense_ld) {
  if (type == GemmType::F32) {
    *dense_ld = ld;
    return static_cast<const float*>(data);
  }
  scratch.resize(static_cast<size_t>(rows * cols));
  const __nv_bfloat16* in = static_cast<const __nv_bfloat16*>(data);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) scratch[static_cast<size_t>(r * cols + c)] = __bfloat162float(in[r * ld + c]);
  *dense_ld = cols;
  return scratch.data();
}

}  // namespace

void gemm(const Gemm& g, cudaStream_t stream) {
  check_gemm(g);
  constexpr int64_t kIntMax = 2147483647;
  DG_CHECK(g.m <= kIntMax && g.n <= kIntMax && g.k <= kIntMax && g.a.ld <= kIntMax && g.b.ld <= kIntMax &&
               g.c.ld <= kIntMax,
           "gemm: the emulator's twin (OpenBLAS) takes sizes and leading dimensions below 2^31");
  DG_CHECK(emu::stream_is_valid(stream), "gemm: stream " << stream << " was not created by cudaStreamCreate or was destroyed");
  const int64_t a_rows = stored_rows(g.m, g.k, g.a.transposed), a_cols = stored_cols(g.m, g.k, g.a.transposed);
  const int64_t b_rows = stored_rows(g.k, g.n, g.b.transposed), b_cols = stored_cols(g.k, g.n, g.b.transposed);
  check_extent("A", g.a.data, g.a.type, a_rows, a_cols, g.a.ld, g.batch, g.a.batch_stride);
  check_extent("B", g.b.data, g.b.type, b_rows, b_cols, g.b.ld, g.batch, g.b.batch_stride);
  check_extent("C", g.c.data, g.c.type, g.m, g.n, g.c.ld, g.batch, g.c.batch_stride);

  std::vector<float> a_scratch, b_scratch, c_scratch;
  const CBLAS_TRANSPOSE ta = g.a.transposed ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = g.b.transposed ? CblasTrans : CblasNoTrans;
  for (int64_t i = 0; i < g.batch; ++i) {
    const size_t a_offset = static_cast<size_t>(i * g.a.batch_stride) * element_bytes(g.a.type);
    const size_t b_offset = static_cast<size_t>(i * g.b.batch_stride) * element_bytes(g.b.type);
    const size_t c_offset = static_cast<size_t>(i * g.c.batch_stride) * element_bytes(g.c.type);
    int64_t lda = 0, ldb = 0;
    const float* a = as_f32(static_cast<const char*>(g.a.data) + a_offset, g.a.type, a_rows, a_cols, g.a.ld, a_scratch, &lda);
    const float* b = as_f32(static_cast<const char*>(g.b.data) + b_offset, g.b.type, b_rows, b_cols, g.b.ld, b_scratch, &ldb);
    char* c = static_cast<char*>(g.c.data) + c_offset;
    // C as fp32: the output itself, or scratch that is rounded to bf16 afterwards.
    float* c32 = reinterpret_cast<float*>(c);
    int64_t ldc = g.c.ld;
    if (g.c.type == GemmType::BF16) {
      c_scratch.assign(static_cast<size_t>(g.m * g.n), 0.0f);
      c32 = c_scratch.data();
      ldc = g.n;
    }
    // beta = 0 never reads C (it may hold NaN): the fp32 C is cleared first instead.
    for (int64_t r = 0; r < g.m; ++r)
      for (int64_t col = 0; col < g.n; ++col) {
        float& out = c32[r * ldc + col];
        if (g.beta == 0.0f)
          out = 0.0f;
        else if (g.c.type == GemmType::BF16)
          out = __bfloat162float(reinterpret_cast<const __nv_bfloat16*>(c)[r * g.c.ld + col]);
      }
    cblas_sgemm(CblasRowMajor, ta, tb, static_cast<int>(g.m), static_cast<int>(g.n), static_cast<int>(g.k), g.alpha, a,
                static_cast<int>(lda), b, static_cast<int>(ldb), g.beta, c32, static_cast<int>(ldc));
    if (g.c.type == GemmType::BF16) {
      __nv_bfloat16* out = reinterpret_cast<__nv_bfloat16*>(c);
      for (int64_t r = 0; r < g.m; ++r)
        for (int64_t col = 0; col < g.n; ++col) out[r * g.c.ld + col] = __float2bfloat16_rn(c32[r * ldc + col]);
    }
  }
}

}  // namespace dg::cuda
