// Argument checks of the DART ops (op_checks.h; backend.h, "DART ops").
#include <utility>

#include "backend/op_checks.h"
#include "backend/shape_checks.h"

namespace dg {

using namespace shape_checks;

namespace {

// small [B, T, D] is the last T rows of each sequence of big [B, S, D].
void token_rows_shape(const char* op, const char* small_name, const Tensor& small, const char* big_name,
                      const Tensor& big) {
  require_rank(op, small_name, small, 3);
  require_rank(op, big_name, big, 3);
  DG_CHECK(small.dim(0) == big.dim(0) && small.dim(2) == big.dim(2) && small.dim(1) <= big.dim(1),
           op << ": " << small_name << " " << describe(small) << " must be [" << big.dim(0) << ", T <= " << big.dim(1)
              << ", " << big.dim(2) << "] for " << big_name << " " << describe(big));
  require_disjoint(op, small_name, small, big_name, big);
}

// wide [R, n·W] holds n copies of narrow [R, W]; returns n.
int64_t tile_copies(const char* op, const char* wide_name, const Tensor& wide, const char* narrow_name,
                    const Tensor& narrow) {
  DG_CHECK(wide.rows() == narrow.rows() && narrow.dim(-1) > 0 && wide.dim(-1) % narrow.dim(-1) == 0,
           op << ": " << wide_name << " " << describe(wide) << " must hold a whole number of copies of the rows of "
              << narrow_name << " " << describe(narrow));
  require_disjoint(op, wide_name, wide, narrow_name, narrow);
  return wide.dim(-1) / narrow.dim(-1);
}

DiffCombineShape diff_combine_shape(const char* op, const Tensor& out, const Tensor& a, const Tensor& lambda,
                                    bool interleaved) {
  require_rank(op, "a", a, 4);
  require_rank(op, "out", out, 4);
  DG_CHECK(a.dim(2) % 2 == 0, op << ": a " << describe(a) << " must hold an even number (2H) of heads");
  DiffCombineShape s{a.dim(0) * a.dim(1), a.dim(2) / 2, a.dim(3), false, interleaved};
  DG_CHECK(out.dim(0) == a.dim(0) && out.dim(1) == a.dim(1) && out.dim(2) == s.heads && out.dim(3) == s.head_dim,
           op << ": out " << describe(out) << " must be [" << a.dim(0) << ", " << a.dim(1) << ", " << s.heads << ", "
              << s.head_dim << "] for a " << describe(a));
  DG_CHECK(lambda.numel() == s.heads || lambda.numel() == s.rows * s.heads,
           op << ": lambda " << describe(lambda) << " must hold " << s.heads << " (per head) or " << s.rows * s.heads
              << " (per token and head) values");
  s.per_row_lambda = lambda.numel() == s.rows * s.heads && s.rows != 1;
  return s;
}

}  // namespace

void check_memory_concat_forward(Device device, const Tensor& x, const Tensor& memory, const Tensor& tok) {
  const char* op = "memory_concat_forward";
  for (auto [name, t] : {std::pair{"x", &x}, {"memory", &memory}, {"tok", &tok}}) require_f32(op, name, *t, device);
  require_rank(op, "x", x, 3);
  require_rank(op, "tok", tok, 3);
  const int64_t batch = x.dim(0), seq = x.dim(1), dim = x.dim(2), tok_rows = tok.dim(1);
  DG_CHECK(tok.dim(0) == batch && tok.dim(2) == dim && tok_rows <= seq,
           op << ": tok " << describe(tok) << " must be [" << batch << ", T <= " << seq << ", " << dim << "] for x "
              << describe(x));
  require_numel(op, "memory", memory, (seq - tok_rows) * dim, "[memory rows, features of x]");
  require_disjoint(op, "x", x, "tok", tok);
  require_disjoint(op, "x", x, "memory", memory);
}

void check_memory_concat_backward(Device device, const Tensor& dmemory, const Tensor& dtok, const Tensor& dx) {
  const char* op = "memory_concat_backward";
  for (auto [name, t] : {std::pair{"dmemory", &dmemory}, {"dtok", &dtok}, {"dx", &dx}})
    require_f32(op, name, *t, device);
  require_rank(op, "dx", dx, 3);
  require_rank(op, "dtok", dtok, 3);
  const int64_t batch = dx.dim(0), seq = dx.dim(1), dim = dx.dim(2), tok_rows = dtok.dim(1);
  DG_CHECK(dtok.dim(0) == batch && dtok.dim(2) == dim && tok_rows <= seq,
           op << ": dtok " << describe(dtok) << " must be [" << batch << ", T <= " << seq << ", " << dim
              << "] for dx " << describe(dx));
  require_numel(op, "dmemory", dmemory, (seq - tok_rows) * dim, "[memory rows, features of dx]");
  require_disjoint(op, "dx", dx, "dtok", dtok);
  require_disjoint(op, "dx", dx, "dmemory", dmemory);
}

void check_token_rows_forward(Device device, const Tensor& out, const Tensor& x) {
  const char* op = "token_rows_forward";
  require_f32(op, "out", out, device);
  require_f32(op, "x", x, device);
  token_rows_shape(op, "out", out, "x", x);
}

void check_token_rows_backward(Device device, const Tensor& dx, const Tensor& dout) {
  const char* op = "token_rows_backward";
  require_f32(op, "dx", dx, device);
  require_f32(op, "dout", dout, device);
  token_rows_shape(op, "dout", dout, "dx", dx);
}

void check_add_vector_forward(Device device, const Tensor& x, const Tensor& v) {
  const char* op = "add_vector_forward";
  require_f32(op, "x", x, device);
  require_f32(op, "v", v, device);
  require_numel(op, "v", v, x.dim(-1), "one per feature of x");
  require_disjoint(op, "x", x, "v", v);
}

void check_add_vector_backward(Device device, const Tensor& dv, const Tensor& dx) {
  const char* op = "add_vector_backward";
  require_f32(op, "dv", dv, device);
  require_f32(op, "dx", dx, device);
  require_numel(op, "dv", dv, dx.dim(-1), "one per feature of dx");
  require_disjoint(op, "dv", dv, "dx", dx);
}

int64_t check_tile_columns_forward(Device device, const Tensor& out, const Tensor& x) {
  const char* op = "tile_columns_forward";
  require_f32(op, "out", out, device);
  require_f32(op, "x", x, device);
  return tile_copies(op, "out", out, "x", x);
}

int64_t check_tile_columns_backward(Device device, const Tensor& dx, const Tensor& dout) {
  const char* op = "tile_columns_backward";
  require_f32(op, "dx", dx, device);
  require_f32(op, "dout", dout, device);
  return tile_copies(op, "dout", dout, "dx", dx);
}

void check_diff_lambda_forward(Device device, const Tensor& lambda, const Tensor& lq1, const Tensor& lk1,
                               const Tensor& lq2, const Tensor& lk2) {
  const char* op = "diff_lambda_forward";
  for (auto [name, t] : {std::pair{"lambda", &lambda}, {"lq1", &lq1}, {"lk1", &lk1}, {"lq2", &lq2}, {"lk2", &lk2}}) {
    require_f32(op, name, *t, device);
    require_numel(op, name, *t, lambda.numel(), "one per head");
  }
}

void check_diff_lambda_backward(Device device, const Tensor& dlq1, const Tensor& dlk1, const Tensor& dlq2,
                                const Tensor& dlk2, const Tensor& dlambda, const Tensor& lq1, const Tensor& lk1,
                                const Tensor& lq2, const Tensor& lk2) {
  const char* op = "diff_lambda_backward";
  for (auto [name, t] : {std::pair{"dlq1", &dlq1}, {"dlk1", &dlk1}, {"dlq2", &dlq2}, {"dlk2", &dlk2},
                         {"dlambda", &dlambda}, {"lq1", &lq1}, {"lk1", &lk1}, {"lq2", &lq2}, {"lk2", &lk2}}) {
    require_f32(op, name, *t, device);
    require_numel(op, name, *t, dlambda.numel(), "one per head");
  }
}

DiffCombineShape check_diff_combine_forward(Device device, const Tensor& out, const Tensor& a, const Tensor& lambda,
                                            bool interleaved) {
  const char* op = "diff_combine_forward";
  for (auto [name, t] : {std::pair{"out", &out}, {"a", &a}, {"lambda", &lambda}}) require_f32(op, name, *t, device);
  const DiffCombineShape s = diff_combine_shape(op, out, a, lambda, interleaved);
  require_disjoint(op, "out", out, "a", a);
  return s;
}

DiffCombineShape check_diff_combine_backward(Device device, const Tensor& da, const Tensor& dlambda,
                                             const Tensor& dout, const Tensor& a, const Tensor& lambda,
                                             bool interleaved) {
  const char* op = "diff_combine_backward";
  for (auto [name, t] : {std::pair{"da", &da}, {"dlambda", &dlambda}, {"dout", &dout}, {"a", &a}, {"lambda", &lambda}})
    require_f32(op, name, *t, device);
  const DiffCombineShape s = diff_combine_shape(op, dout, a, lambda, interleaved);
  require_same_shape(op, "da", da, "a", a);
  require_same_numel(op, "dlambda", dlambda, "lambda", lambda);
  require_disjoint(op, "da", da, "dout", dout);
  require_disjoint(op, "da", da, "dlambda", dlambda);
  return s;
}

}  // namespace dg
