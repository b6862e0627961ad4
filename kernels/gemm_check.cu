// Argument checks of dg::cuda::gemm, shared by the cuBLASLt implementation and the emulator's twin.
#include <sstream>

#include "core/error.h"
#include "gemm.h"

namespace dg::cuda {
namespace {

const char* type_name(GemmType t) { return t == GemmType::BF16 ? "bf16" : "f32"; }

void check_operand(const std::string& where, const char* name, const void* data, int64_t rows, int64_t cols,
                   bool transposed, int64_t ld, int64_t batch_stride, const char* shape) {
  DG_CHECK(data != nullptr, where << ": " << name << " is null");
  const int64_t stored = stored_cols(rows, cols, transposed);
  DG_CHECK(ld >= stored, where << ": " << name << ".ld = " << ld << " is less than the " << stored << " columns of "
                               << name << " as stored (" << shape << ")");
  DG_CHECK(batch_stride >= 0, where << ": " << name << ".batch_stride = " << batch_stride << " is negative");
}

}  // namespace

void check_gemm(const Gemm& g) {
  std::ostringstream where_text;
  where_text << "gemm [m=" << g.m << ", n=" << g.n << ", k=" << g.k << ", batch=" << g.batch << "]";
  const std::string where = where_text.str();
  DG_CHECK(g.m > 0 && g.n > 0 && g.k > 0 && g.batch > 0, where << ": every size must be positive");
  DG_CHECK(g.a.type == g.b.type, where << ": A is " << type_name(g.a.type) << " but B is " << type_name(g.b.type)
                                       << "; both inputs must have one type");
  DG_CHECK(!(g.a.type == GemmType::F32 && g.c.type == GemmType::BF16),
           where << ": f32 inputs need an f32 output (bf16 outputs take bf16 inputs)");
  check_operand(where, "A", g.a.data, g.m, g.k, g.a.transposed, g.a.ld, g.a.batch_stride,
                g.a.transposed ? "[k, m]" : "[m, k]");
  check_operand(where, "B", g.b.data, g.k, g.n, g.b.transposed, g.b.ld, g.b.batch_stride,
                g.b.transposed ? "[n, k]" : "[k, n]");
  DG_CHECK(g.c.data != nullptr, where << ": C is null");
  DG_CHECK(g.c.ld >= g.n, where << ": C.ld = " << g.c.ld << " is less than the " << g.n << " columns of C ([m, n])");
  DG_CHECK(g.batch == 1 || g.c.batch_stride >= (g.m - 1) * g.c.ld + g.n,
           where << ": C.batch_stride = " << g.c.batch_stride << " makes the batches of C overlap (at least "
                 << (g.m - 1) * g.c.ld + g.n << ")");
}

}  // namespace dg::cuda
