// Argument checks of the core ops (op_checks.h): elementwise, embedding, RMSNorm, matmul, rotary,
// per-head gain, attention, the activations (relu², sigmoid, GELU), residual mix, scaled add,
// cross-entropy and the optimizers.
#include "backend/op_checks.h"

#include <climits>
#include <utility>

#include "backend/cpu/ops_optim.h"  // newton_schulz_workspace: the workspace size backend.h promises
#include "backend/shape_checks.h"

namespace dg {

using namespace shape_checks;

namespace {

AttentionShape attention_shape(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lse) {
  require_rank(op, "q", q, 4);
  require_rank(op, "k", k, 4);
  require_same_shape(op, "v", v, "k", k);
  const AttentionShape s{q.dim(0), q.dim(1), q.dim(2), k.dim(2), q.dim(3)};
  DG_CHECK(k.dim(0) == s.batch && k.dim(1) == s.seq && k.dim(3) == s.head_dim,
           op << ": k " << describe(k) << " must be [" << s.batch << ", " << s.seq << ", kv_heads, " << s.head_dim
              << "] for q " << describe(q));
  DG_CHECK(s.kv_heads > 0 && s.heads % s.kv_heads == 0,
           op << ": query heads " << s.heads << " (q " << describe(q) << ") must be a multiple of KV heads "
              << s.kv_heads << " (k " << describe(k) << ")");
  require_numel(op, "lse", lse, s.batch * s.heads * s.seq, "[batch, heads, seq]");
  return s;
}

// out = f(x), elementwise.
void activation_forward_args(Device device, const char* op, const Tensor& out, const Tensor& x) {
  require_f32(op, "out", out, device);
  require_f32(op, "x", x, device);
  require_same_numel(op, "out", out, "x", x);
}

// dx += f'·dout, with f' from what the forward saved: its input x or (sigmoid) its output.
void activation_backward_args(Device device, const char* op, const Tensor& dx, const Tensor& dout,
                              const char* saved_name, const Tensor& saved) {
  for (auto [name, t] : {std::pair{"dx", &dx}, {"dout", &dout}, {saved_name, &saved}})
    require_f32(op, name, *t, device);
  require_same_numel(op, "dx", dx, saved_name, saved);
  require_same_numel(op, "dout", dout, saved_name, saved);
}

}  // namespace

// ---- memory and elementwise -------------------------------------------------------------------------

void check_fill(Device device, const Tensor& dst) { require_f32("fill", "dst", dst, device); }

void check_axpy(Device device, const Tensor& y, const Tensor& x) {
  require_f32("axpy", "y", y, device);
  require_f32("axpy", "x", x, device);
  require_same_numel("axpy", "x", x, "y", y);
}

void check_scale(Device device, const Tensor& x) { require_f32("scale", "x", x, device); }

void check_sum_squares(Device device, const Tensor& x) { require_f32("sum_squares", "x", x, device); }

// ---- embedding ----------------------------------------------------------------------------------------

void check_embedding_forward(Device device, const Tensor& out, const Tensor& table, const Tensor& ids) {
  const char* op = "embedding_forward";
  require_f32(op, "out", out, device);
  require_f32(op, "table", table, device);
  require_i32(op, "ids", ids, device);
  require_rank(op, "table", table, 2);
  DG_CHECK(out.dim(-1) == table.dim(1) && out.rows() == ids.numel(),
           op << ": out " << describe(out) << " must be [" << ids.numel() << " ids, " << table.dim(1)
              << "] for table " << describe(table) << " and ids " << describe(ids));
}

void check_embedding_backward(Device device, const Tensor& dtable, const Tensor& dout, const Tensor& ids) {
  const char* op = "embedding_backward";
  require_f32(op, "dtable", dtable, device);
  require_f32(op, "dout", dout, device);
  require_i32(op, "ids", ids, device);
  require_rank(op, "dtable", dtable, 2);
  DG_CHECK(dout.dim(-1) == dtable.dim(1) && dout.rows() == ids.numel(),
           op << ": dout " << describe(dout) << " must be [" << ids.numel() << " ids, " << dtable.dim(1)
              << "] for dtable " << describe(dtable) << " and ids " << describe(ids));
}

// ---- RMSNorm, matmul, rotary, per-head gain -------------------------------------------------------------

void check_rmsnorm_forward(Device device, const Tensor& out, const Tensor& rstd, const Tensor& x) {
  const char* op = "rmsnorm_forward";
  for (auto [name, t] : {std::pair{"out", &out}, {"rstd", &rstd}, {"x", &x}}) require_f32(op, name, *t, device);
  require_same_rows(op, "out", out, "x", x);
  require_numel(op, "rstd", rstd, x.rows(), "one per row of x");
  require_disjoint(op, "out", out, "x", x);
}

void check_rmsnorm_backward(Device device, const Tensor& dx, const Tensor& dout, const Tensor& x, const Tensor& rstd) {
  const char* op = "rmsnorm_backward";
  for (auto [name, t] : {std::pair{"dx", &dx}, {"dout", &dout}, {"x", &x}, {"rstd", &rstd}})
    require_f32(op, name, *t, device);
  require_same_rows(op, "dx", dx, "x", x);
  require_same_rows(op, "dout", dout, "x", x);
  require_numel(op, "rstd", rstd, x.rows(), "one per row of x");
}

MatmulShape check_matmul(Device device, const Tensor& c, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b) {
  const char* op = "matmul";
  for (auto [name, t] : {std::pair{"c", &c}, {"a", &a}, {"b", &b}}) require_f32(op, name, *t, device);
  const MatmulShape s{trans_a ? a.dim(-1) : a.rows(), trans_b ? b.rows() : b.dim(-1), trans_a ? a.rows() : a.dim(-1)};
  const int64_t kb = trans_b ? b.dim(-1) : b.rows();
  DG_CHECK(s.k == kb, op << ": inner dimensions differ: op(a) from a " << describe(a)
                         << (trans_a ? " (transposed)" : "") << " has " << s.k << " columns, op(b) from b "
                         << describe(b) << (trans_b ? " (transposed)" : "") << " has " << kb << " rows");
  DG_CHECK(c.rows() == s.m && c.dim(-1) == s.n, op << ": c " << describe(c) << " must be [" << s.m << ", " << s.n
                                                   << "] for a " << describe(a) << (trans_a ? "ᵀ" : "") << " · b "
                                                   << describe(b) << (trans_b ? "ᵀ" : ""));
  require_disjoint(op, "c", c, "a", a);
  require_disjoint(op, "c", c, "b", b);
  return s;
}

void check_rope(Device device, const Tensor& x, float base, int64_t start) {
  const char* op = "rope";
  require_f32(op, "x", x, device);
  require_rank(op, "x", x, 4);
  const int64_t seq = x.dim(1), head_dim = x.dim(3);
  DG_CHECK(head_dim % 2 == 0, op << ": head_dim must be even, x is " << describe(x));
  DG_CHECK(start >= 0 && start <= seq,
           op << ": start " << start << " outside [0, " << seq << "] for x " << describe(x));
  DG_CHECK(base > 0.0f, op << ": base must be positive, got " << base);
}

void check_head_scale_forward(Device device, const Tensor& out, const Tensor& x, const Tensor& gain) {
  const char* op = "head_scale_forward";
  for (auto [name, t] : {std::pair{"out", &out}, {"x", &x}, {"gain", &gain}}) require_f32(op, name, *t, device);
  require_rank(op, "x", x, 4);
  require_same_numel(op, "out", out, "x", x);
  require_numel(op, "gain", gain, x.dim(2), "one per head of x");
}

void check_head_scale_backward(Device device, const Tensor& dx, const Tensor& dgain, const Tensor& dout,
                               const Tensor& x, const Tensor& gain) {
  const char* op = "head_scale_backward";
  for (auto [name, t] : {std::pair{"dx", &dx}, {"dgain", &dgain}, {"dout", &dout}, {"x", &x}, {"gain", &gain}})
    require_f32(op, name, *t, device);
  require_rank(op, "x", x, 4);
  require_same_numel(op, "dx", dx, "x", x);
  require_same_numel(op, "dout", dout, "x", x);
  require_numel(op, "gain", gain, x.dim(2), "one per head of x");
  require_numel(op, "dgain", dgain, x.dim(2), "one per head of x");
}

// ---- attention ------------------------------------------------------------------------------------------

AttentionShape check_attention_forward(Device device, const Tensor& out, const Tensor& lse, const Tensor& q,
                                       const Tensor& k, const Tensor& v) {
  const char* op = "attention_forward";
  for (auto [name, t] : {std::pair{"out", &out}, {"lse", &lse}, {"q", &q}, {"k", &k}, {"v", &v}})
    require_f32(op, name, *t, device);
  const AttentionShape s = attention_shape(op, q, k, v, lse);
  require_same_shape(op, "out", out, "q", q);
  for (auto [name, t] : {std::pair{"q", &q}, {"k", &k}, {"v", &v}}) require_disjoint(op, "out", out, name, *t);
  return s;
}

AttentionShape check_attention_backward(Device device, const Tensor& dq, const Tensor& dk, const Tensor& dv,
                                        const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                        const Tensor& out, const Tensor& lse) {
  const char* op = "attention_backward";
  for (auto [name, t] : {std::pair{"dq", &dq}, {"dk", &dk}, {"dv", &dv}, {"dout", &dout}, {"q", &q}, {"k", &k},
                         {"v", &v}, {"out", &out}, {"lse", &lse}})
    require_f32(op, name, *t, device);
  const AttentionShape s = attention_shape(op, q, k, v, lse);
  require_same_shape(op, "dq", dq, "q", q);
  require_same_shape(op, "dout", dout, "q", q);
  require_same_shape(op, "out", out, "q", q);
  require_same_shape(op, "dk", dk, "k", k);
  require_same_shape(op, "dv", dv, "v", v);
  require_disjoint(op, "dq", dq, "dk", dk);
  require_disjoint(op, "dq", dq, "dv", dv);
  require_disjoint(op, "dk", dk, "dv", dv);
  return s;
}

// ---- activations, residual mix, scaled add ------------------------------------------------------------------

void check_relu2_forward(Device device, const Tensor& out, const Tensor& x) {
  activation_forward_args(device, "relu2_forward", out, x);
}

void check_relu2_backward(Device device, const Tensor& dx, const Tensor& dout, const Tensor& x) {
  activation_backward_args(device, "relu2_backward", dx, dout, "x", x);
}

void check_sigmoid_forward(Device device, const Tensor& out, const Tensor& x) {
  activation_forward_args(device, "sigmoid_forward", out, x);
}

void check_sigmoid_backward(Device device, const Tensor& dx, const Tensor& dout, const Tensor& out) {
  activation_backward_args(device, "sigmoid_backward", dx, dout, "out", out);
}

void check_gelu_forward(Device device, const Tensor& out, const Tensor& x) {
  activation_forward_args(device, "gelu_forward", out, x);
}

void check_gelu_backward(Device device, const Tensor& dx, const Tensor& dout, const Tensor& x) {
  activation_backward_args(device, "gelu_backward", dx, dout, "x", x);
}

void check_resid_mix_forward(Device device, const Tensor& out, const Tensor& x, const Tensor& x0, const Tensor& mix) {
  const char* op = "resid_mix_forward";
  for (auto [name, t] : {std::pair{"out", &out}, {"x", &x}, {"x0", &x0}, {"mix", &mix}})
    require_f32(op, name, *t, device);
  require_same_rows(op, "x0", x0, "x", x);
  require_same_rows(op, "out", out, "x", x);
  require_numel(op, "mix", mix, 2 * x.dim(-1), "[2, features of x]");
}

void check_resid_mix_backward(Device device, const Tensor& dx, const Tensor& dx0, const Tensor& dmix,
                              const Tensor& dout, const Tensor& x, const Tensor& x0, const Tensor& mix) {
  const char* op = "resid_mix_backward";
  for (auto [name, t] : {std::pair{"dx", &dx}, {"dx0", &dx0}, {"dmix", &dmix}, {"dout", &dout}, {"x", &x},
                         {"x0", &x0}, {"mix", &mix}})
    require_f32(op, name, *t, device);
  require_same_rows(op, "x0", x0, "x", x);
  require_same_rows(op, "dx", dx, "x", x);
  require_same_rows(op, "dx0", dx0, "x", x);
  require_same_rows(op, "dout", dout, "x", x);
  require_numel(op, "mix", mix, 2 * x.dim(-1), "[2, features of x]");
  require_numel(op, "dmix", dmix, 2 * x.dim(-1), "[2, features of x]");
  require_disjoint(op, "dx", dx, "dx0", dx0);
}

void check_add_scaled_forward(Device device, const Tensor& x, const Tensor& s, const Tensor& y) {
  const char* op = "add_scaled_forward";
  for (auto [name, t] : {std::pair{"x", &x}, {"s", &s}, {"y", &y}}) require_f32(op, name, *t, device);
  require_same_rows(op, "y", y, "x", x);
  require_numel(op, "s", s, x.dim(-1), "one per feature of x");
  require_disjoint(op, "x", x, "y", y);
}

void check_add_scaled_backward(Device device, const Tensor& dy, const Tensor& ds, const Tensor& dx, const Tensor& s,
                               const Tensor& y) {
  const char* op = "add_scaled_backward";
  for (auto [name, t] : {std::pair{"dy", &dy}, {"ds", &ds}, {"dx", &dx}, {"s", &s}, {"y", &y}})
    require_f32(op, name, *t, device);
  require_same_rows(op, "dy", dy, "y", y);
  require_same_rows(op, "dx", dx, "y", y);
  require_numel(op, "s", s, y.dim(-1), "one per feature of y");
  require_numel(op, "ds", ds, y.dim(-1), "one per feature of y");
  require_disjoint(op, "dy", dy, "dx", dx);
}

// ---- softcap + cross-entropy --------------------------------------------------------------------------------

void check_softcap_ce_forward(Device device, const Tensor& losses, const Tensor& logits, const Tensor& targets,
                              float cap) {
  const char* op = "softcap_ce_forward";
  require_f32(op, "losses", losses, device);
  require_f32(op, "logits", logits, device);
  require_i32(op, "targets", targets, device);
  DG_CHECK(cap > 0.0f, op << ": cap must be positive, got " << cap);
  require_numel(op, "targets", targets, logits.rows(), "one per row of logits");
  require_numel(op, "losses", losses, logits.rows(), "one per row of logits");
}

void check_softcap_ce_backward(Device device, const Tensor& dlogits, const Tensor& logits, const Tensor& targets,
                               float cap) {
  const char* op = "softcap_ce_backward";
  require_f32(op, "dlogits", dlogits, device);
  require_f32(op, "logits", logits, device);
  require_i32(op, "targets", targets, device);
  DG_CHECK(cap > 0.0f, op << ": cap must be positive, got " << cap);
  require_same_rows(op, "dlogits", dlogits, "logits", logits);
  require_numel(op, "targets", targets, logits.rows(), "one per row of logits");
  require_disjoint(op, "dlogits", dlogits, "logits", logits);
}

// ---- optimizers, fake quantization -------------------------------------------------------------------------

void check_adam_update(Device device, const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                       const AdamHyper& hyper) {
  const char* op = "adam_update";
  for (auto [name, t] : {std::pair{"param", &param}, {"grad", &grad}, {"m", &m}, {"v", &v}})
    require_f32(op, name, *t, device);
  require_same_numel(op, "grad", grad, "param", param);
  require_same_numel(op, "m", m, "param", param);
  require_same_numel(op, "v", v, "param", param);
  DG_CHECK(hyper.step >= 1, op << ": step must be >= 1 (1-based for bias correction), got " << hyper.step);
}

void check_newton_schulz(Device device, const Tensor& out, const Tensor& g, int steps, const Tensor& workspace) {
  const char* op = "newton_schulz";
  for (auto [name, t] : {std::pair{"out", &out}, {"g", &g}, {"workspace", &workspace}})
    require_f32(op, name, *t, device);
  DG_CHECK(steps >= 0, op << ": steps must be >= 0, got " << steps);
  const int64_t rows = g.rows(), cols = g.dim(-1);
  require_same_rows(op, "out", out, "g", g);
  const int64_t needed = cpu::newton_schulz_workspace(rows, cols);
  DG_CHECK(workspace.numel() >= needed, op << ": workspace " << describe(workspace) << " holds " << workspace.numel()
                                           << " floats, g " << describe(g) << " needs " << needed);
  // Both backends run the products through int-sized GEMM interfaces.
  DG_CHECK(rows <= INT_MAX && cols <= INT_MAX, op << ": g " << describe(g) << " exceeds the BLAS int range");
  require_disjoint(op, "out", out, "g", g);
  require_disjoint(op, "out", out, "workspace", workspace);
  require_disjoint(op, "g", g, "workspace", workspace);
}

void check_fake_quant_rows_forward(Device device, const Tensor& out, const Tensor& w) {
  const char* op = "fake_quant_rows_forward";
  for (auto [name, t] : {std::pair{"out", &out}, {"w", &w}}) require_f32(op, name, *t, device);
  require_rank(op, "w", w, 2);
  require_same_shape(op, "out", out, "w", w);
  // In place is allowed (backend.h), a partial overlap is not.
  DG_CHECK(out.data == w.data || out.bytes() == 0 || w.bytes() == 0 ||
               static_cast<const char*>(out.data) + out.bytes() <= static_cast<const char*>(w.data) ||
               static_cast<const char*>(w.data) + w.bytes() <= static_cast<const char*>(out.data),
           op << ": out and w must be the same buffer or disjoint");
}

}  // namespace dg
