#include "backend/cpu/cpu_backend.h"

#include <omp.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "backend/cpu/ops_attention.h"
#include "backend/cpu/ops_dart.h"
#include "backend/cpu/ops_elementwise.h"
#include "backend/cpu/ops_loss.h"
#include "backend/cpu/ops_matmul.h"
#include "backend/cpu/ops_norm.h"
#include "backend/cpu/ops_optim.h"
#include "backend/cpu/ops_rope.h"
#include "backend/shape_checks.h"

namespace dg {

using namespace shape_checks;

namespace {

constexpr int64_t kAlignment = 256;

void f32(const char* op, const char* name, const Tensor& t) { require_f32(op, name, t, Device::CPU); }
void i32(const char* op, const char* name, const Tensor& t) { require_i32(op, name, t, Device::CPU); }

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

// ---- memory ---------------------------------------------------------------------------------------

void* CpuBackend::allocate(int64_t bytes) {
  DG_CHECK(bytes >= 0, "cpu allocate: negative size " << bytes);
  // aligned_alloc wants a multiple of the alignment; a zero-byte request still gets a valid pointer.
  const int64_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment + (bytes == 0 ? kAlignment : 0);
  void* ptr = std::aligned_alloc(kAlignment, static_cast<size_t>(rounded));
  DG_CHECK(ptr != nullptr, "cpu allocate: out of host memory for " << bytes << " bytes");
  std::memset(ptr, 0, static_cast<size_t>(rounded));
  allocations_[ptr] = rounded;
  allocated_bytes_ += rounded;
  peak_bytes_ = std::max(peak_bytes_, allocated_bytes_);
  return ptr;
}

void CpuBackend::release(void* ptr) {
  if (const auto found = allocations_.find(ptr); found != allocations_.end()) {
    allocated_bytes_ -= found->second;
    allocations_.erase(found);
  }
  std::free(ptr);
}

std::string CpuBackend::description() const {
  return "cpu (" + std::to_string(omp_get_max_threads()) + " threads) precision fp32";
}

void CpuBackend::copy_to_host(void* host_dst, const Tensor& src) {
  DG_CHECK(src.device == Device::CPU, "copy_to_host: src " << describe(src) << " is not a CPU tensor");
  if (src.bytes() > 0) std::memcpy(host_dst, src.data, static_cast<size_t>(src.bytes()));
}

void CpuBackend::copy_from_host(const Tensor& dst, const void* host_src) {
  DG_CHECK(dst.device == Device::CPU, "copy_from_host: dst " << describe(dst) << " is not a CPU tensor");
  if (dst.bytes() > 0) std::memcpy(dst.data, host_src, static_cast<size_t>(dst.bytes()));
}

void CpuBackend::copy(const Tensor& dst, const Tensor& src) {
  DG_CHECK(dst.device == Device::CPU && src.device == Device::CPU, "copy: both tensors must be on the CPU");
  DG_CHECK(dst.bytes() == src.bytes(),
           "copy: dst " << describe(dst) << " and src " << describe(src) << " differ in size");
  if (dst.bytes() > 0) std::memmove(dst.data, src.data, static_cast<size_t>(dst.bytes()));
}

void CpuBackend::fill(const Tensor& dst, float value) {
  f32("fill", "dst", dst);
  cpu::fill<float>(dst.f32(), value, dst.numel());
}

// ---- elementwise ------------------------------------------------------------------------------------

void CpuBackend::axpy(const Tensor& y, float alpha, const Tensor& x) {
  f32("axpy", "y", y);
  f32("axpy", "x", x);
  require_same_numel("axpy", "x", x, "y", y);
  cpu::axpy<float>(y.f32(), alpha, x.f32(), y.numel());
}

void CpuBackend::scale(const Tensor& x, float alpha) {
  f32("scale", "x", x);
  cpu::scale<float>(x.f32(), alpha, x.numel());
}

double CpuBackend::sum_squares(const Tensor& x) {
  f32("sum_squares", "x", x);
  return cpu::sum_squares<float>(x.f32(), x.numel());
}

// ---- embedding ----------------------------------------------------------------------------------------

void CpuBackend::embedding_forward(const Tensor& out, const Tensor& table, const Tensor& ids) {
  const char* op = "embedding_forward";
  f32(op, "out", out);
  f32(op, "table", table);
  i32(op, "ids", ids);
  require_rank(op, "table", table, 2);
  DG_CHECK(out.dim(-1) == table.dim(1) && out.rows() == ids.numel(),
           op << ": out " << describe(out) << " must be [" << ids.numel() << " ids, " << table.dim(1)
              << "] for table " << describe(table) << " and ids " << describe(ids));
  require_ids_below(op, "ids", ids, table.dim(0));
  cpu::embedding_forward<float>(out.f32(), table.f32(), ids.i32(), ids.numel(), table.dim(1));
}

void CpuBackend::embedding_backward(const Tensor& dtable, const Tensor& dout, const Tensor& ids) {
  const char* op = "embedding_backward";
  f32(op, "dtable", dtable);
  f32(op, "dout", dout);
  i32(op, "ids", ids);
  require_rank(op, "dtable", dtable, 2);
  DG_CHECK(dout.dim(-1) == dtable.dim(1) && dout.rows() == ids.numel(),
           op << ": dout " << describe(dout) << " must be [" << ids.numel() << " ids, " << dtable.dim(1)
              << "] for dtable " << describe(dtable) << " and ids " << describe(ids));
  require_ids_below(op, "ids", ids, dtable.dim(0));
  cpu::embedding_backward<float>(dtable.f32(), dout.f32(), ids.i32(), ids.numel(), dtable.dim(1));
}

// ---- RMSNorm ----------------------------------------------------------------------------------------------

void CpuBackend::rmsnorm_forward(const Tensor& out, const Tensor& rstd, const Tensor& x, float eps) {
  const char* op = "rmsnorm_forward";
  f32(op, "out", out);
  f32(op, "rstd", rstd);
  f32(op, "x", x);
  require_same_rows(op, "out", out, "x", x);
  require_numel(op, "rstd", rstd, x.rows(), "one per row of x");
  require_disjoint(op, "out", out, "x", x);
  cpu::rmsnorm_forward<float>(out.f32(), rstd.f32(), x.f32(), x.rows(), x.dim(-1), eps);
}

void CpuBackend::rmsnorm_backward(const Tensor& dx, const Tensor& dout, const Tensor& x, const Tensor& rstd) {
  const char* op = "rmsnorm_backward";
  f32(op, "dx", dx);
  f32(op, "dout", dout);
  f32(op, "x", x);
  f32(op, "rstd", rstd);
  require_same_rows(op, "dx", dx, "x", x);
  require_same_rows(op, "dout", dout, "x", x);
  require_numel(op, "rstd", rstd, x.rows(), "one per row of x");
  cpu::rmsnorm_backward<float>(dx.f32(), dout.f32(), x.f32(), rstd.f32(), x.rows(), x.dim(-1));
}

// ---- matmul -----------------------------------------------------------------------------------------------

void CpuBackend::matmul(const Tensor& c, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, float alpha,
                        float beta) {
  const char* op = "matmul";
  f32(op, "c", c);
  f32(op, "a", a);
  f32(op, "b", b);
  // Every operand is read as a matrix [rows(), last dim].
  const int64_t m = trans_a ? a.dim(-1) : a.rows();
  const int64_t k = trans_a ? a.rows() : a.dim(-1);
  const int64_t kb = trans_b ? b.dim(-1) : b.rows();
  const int64_t n = trans_b ? b.rows() : b.dim(-1);
  DG_CHECK(k == kb, op << ": inner dimensions differ: op(a) from a " << describe(a) << (trans_a ? " (transposed)" : "")
                       << " has " << k << " columns, op(b) from b " << describe(b)
                       << (trans_b ? " (transposed)" : "") << " has " << kb << " rows");
  DG_CHECK(c.rows() == m && c.dim(-1) == n, op << ": c " << describe(c) << " must be [" << m << ", " << n
                                               << "] for a " << describe(a) << (trans_a ? "ᵀ" : "") << " · b "
                                               << describe(b) << (trans_b ? "ᵀ" : ""));
  DG_CHECK(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX,
           op << ": dimensions " << m << "×" << k << "×" << n << " exceed the BLAS int range");
  require_disjoint(op, "c", c, "a", a);
  require_disjoint(op, "c", c, "b", b);
  cpu::gemm<float>(c.f32(), a.f32(), trans_a, b.f32(), trans_b, m, n, k, alpha, beta);
}

// ---- rotary -----------------------------------------------------------------------------------------------

const CpuBackend::RopeCache& CpuBackend::rope_tables(float base, int64_t head_dim, int64_t positions) {
  RopeCache& cache = rope_cache_;
  if (cache.base != base || cache.head_dim != head_dim || cache.positions < positions) {
    const int64_t half = head_dim / 2;
    cache.cos_table.resize(static_cast<size_t>(positions * half));
    cache.sin_table.resize(static_cast<size_t>(positions * half));
    cpu::rope_tables<float>(cache.cos_table.data(), cache.sin_table.data(), positions, head_dim, base);
    cache.base = base;
    cache.head_dim = head_dim;
    cache.positions = positions;
  }
  return cache;
}

void CpuBackend::rope(const Tensor& x, float base, int64_t start, bool inverse) {
  const char* op = "rope";
  f32(op, "x", x);
  require_rank(op, "x", x, 4);
  const int64_t seq = x.dim(1), head_dim = x.dim(3);
  DG_CHECK(head_dim % 2 == 0, op << ": head_dim must be even, x is " << describe(x));
  DG_CHECK(start >= 0 && start <= seq, op << ": start " << start << " outside [0, " << seq << "] for x " << describe(x));
  DG_CHECK(base > 0.0f, op << ": base must be positive, got " << base);
  if (start == seq) return;
  const RopeCache& tables = rope_tables(base, head_dim, seq - start);
  cpu::rope_apply<float>(x.f32(), tables.cos_table.data(), tables.sin_table.data(), x.dim(0), seq, x.dim(2), head_dim,
                         start, inverse);
}

// ---- per-head gain ------------------------------------------------------------------------------------------

void CpuBackend::head_scale_forward(const Tensor& out, const Tensor& x, const Tensor& gain) {
  const char* op = "head_scale_forward";
  f32(op, "out", out);
  f32(op, "x", x);
  f32(op, "gain", gain);
  require_rank(op, "x", x, 4);
  require_same_numel(op, "out", out, "x", x);
  require_numel(op, "gain", gain, x.dim(2), "one per head of x");
  cpu::head_scale_forward<float>(out.f32(), x.f32(), gain.f32(), x.dim(0) * x.dim(1), x.dim(2), x.dim(3));
}

void CpuBackend::head_scale_backward(const Tensor& dx, const Tensor& dgain, const Tensor& dout, const Tensor& x,
                                     const Tensor& gain) {
  const char* op = "head_scale_backward";
  f32(op, "dx", dx);
  f32(op, "dgain", dgain);
  f32(op, "dout", dout);
  f32(op, "x", x);
  f32(op, "gain", gain);
  require_rank(op, "x", x, 4);
  require_same_numel(op, "dx", dx, "x", x);
  require_same_numel(op, "dout", dout, "x", x);
  require_numel(op, "gain", gain, x.dim(2), "one per head of x");
  require_numel(op, "dgain", dgain, x.dim(2), "one per head of x");
  cpu::head_scale_backward<float>(dx.f32(), dgain.f32(), dout.f32(), x.f32(), gain.f32(), x.dim(0) * x.dim(1),
                                  x.dim(2), x.dim(3));
}

// ---- attention ----------------------------------------------------------------------------------------------

namespace {

cpu::AttentionShape attention_shape(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& lse) {
  require_rank(op, "q", q, 4);
  require_rank(op, "k", k, 4);
  require_same_shape(op, "v", v, "k", k);
  cpu::AttentionShape s{q.dim(0), q.dim(1), q.dim(2), k.dim(2), q.dim(3)};
  DG_CHECK(k.dim(0) == s.batch && k.dim(1) == s.seq && k.dim(3) == s.head_dim,
           op << ": k " << describe(k) << " must be [" << s.batch << ", " << s.seq << ", kv_heads, " << s.head_dim
              << "] for q " << describe(q));
  DG_CHECK(s.kv_heads > 0 && s.heads % s.kv_heads == 0,
           op << ": query heads " << s.heads << " (q " << describe(q) << ") must be a multiple of KV heads "
              << s.kv_heads << " (k " << describe(k) << ")");
  require_numel(op, "lse", lse, s.batch * s.heads * s.seq, "[batch, heads, seq]");
  return s;
}

}  // namespace

void CpuBackend::attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                                   const Tensor& v, float softmax_scale) {
  const char* op = "attention_forward";
  for (auto [name, t] : {std::pair{"out", &out}, {"lse", &lse}, {"q", &q}, {"k", &k}, {"v", &v}}) f32(op, name, *t);
  const cpu::AttentionShape s = attention_shape(op, q, k, v, lse);
  require_same_shape(op, "out", out, "q", q);
  for (auto [name, t] : {std::pair{"q", &q}, {"k", &k}, {"v", &v}}) require_disjoint(op, "out", out, name, *t);
  cpu::attention_forward<float>(out.f32(), lse.f32(), q.f32(), k.f32(), v.f32(), s, softmax_scale);
}

void CpuBackend::attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                                    const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                    const Tensor& lse, float softmax_scale) {
  const char* op = "attention_backward";
  for (auto [name, t] : {std::pair{"dq", &dq}, {"dk", &dk}, {"dv", &dv}, {"dout", &dout}, {"q", &q}, {"k", &k},
                         {"v", &v}, {"out", &out}, {"lse", &lse}})
    f32(op, name, *t);
  const cpu::AttentionShape s = attention_shape(op, q, k, v, lse);
  require_same_shape(op, "dq", dq, "q", q);
  require_same_shape(op, "dout", dout, "q", q);
  require_same_shape(op, "out", out, "q", q);
  require_same_shape(op, "dk", dk, "k", k);
  require_same_shape(op, "dv", dv, "v", v);
  require_disjoint(op, "dq", dq, "dk", dk);
  require_disjoint(op, "dq", dq, "dv", dv);
  require_disjoint(op, "dk", dk, "dv", dv);
  cpu::attention_backward<float>(dq.f32(), dk.f32(), dv.f32(), dout.f32(), q.f32(), k.f32(), v.f32(), out.f32(),
                                 lse.f32(), s, softmax_scale);
}

// ---- relu² ---------------------------------------------------------------------------------------------------

void CpuBackend::relu2_forward(const Tensor& out, const Tensor& x) {
  const char* op = "relu2_forward";
  f32(op, "out", out);
  f32(op, "x", x);
  require_same_numel(op, "out", out, "x", x);
  cpu::relu2_forward<float>(out.f32(), x.f32(), x.numel());
}

void CpuBackend::relu2_backward(const Tensor& dx, const Tensor& dout, const Tensor& x) {
  const char* op = "relu2_backward";
  f32(op, "dx", dx);
  f32(op, "dout", dout);
  f32(op, "x", x);
  require_same_numel(op, "dx", dx, "x", x);
  require_same_numel(op, "dout", dout, "x", x);
  cpu::relu2_backward<float>(dx.f32(), dout.f32(), x.f32(), x.numel());
}

// ---- residual mix ----------------------------------------------------------------------------------------------

void CpuBackend::resid_mix_forward(const Tensor& out, const Tensor& x, const Tensor& x0, const Tensor& mix) {
  const char* op = "resid_mix_forward";
  for (auto [name, t] : {std::pair{"out", &out}, {"x", &x}, {"x0", &x0}, {"mix", &mix}}) f32(op, name, *t);
  require_same_rows(op, "x0", x0, "x", x);
  require_same_rows(op, "out", out, "x", x);
  require_numel(op, "mix", mix, 2 * x.dim(-1), "[2, features of x]");
  cpu::resid_mix_forward<float>(out.f32(), x.f32(), x0.f32(), mix.f32(), x.rows(), x.dim(-1));
}

void CpuBackend::resid_mix_backward(const Tensor& dx, const Tensor& dx0, const Tensor& dmix, const Tensor& dout,
                                    const Tensor& x, const Tensor& x0, const Tensor& mix) {
  const char* op = "resid_mix_backward";
  for (auto [name, t] : {std::pair{"dx", &dx}, {"dx0", &dx0}, {"dmix", &dmix}, {"dout", &dout}, {"x", &x},
                         {"x0", &x0}, {"mix", &mix}})
    f32(op, name, *t);
  require_same_rows(op, "x0", x0, "x", x);
  require_same_rows(op, "dx", dx, "x", x);
  require_same_rows(op, "dx0", dx0, "x", x);
  require_same_rows(op, "dout", dout, "x", x);
  require_numel(op, "mix", mix, 2 * x.dim(-1), "[2, features of x]");
  require_numel(op, "dmix", dmix, 2 * x.dim(-1), "[2, features of x]");
  require_disjoint(op, "dx", dx, "dx0", dx0);
  cpu::resid_mix_backward<float>(dx.f32(), dx0.f32(), dmix.f32(), dout.f32(), x.f32(), x0.f32(), mix.f32(), x.rows(),
                                 x.dim(-1));
}

// ---- scaled residual add ------------------------------------------------------------------------------------------

void CpuBackend::add_scaled_forward(const Tensor& x, const Tensor& s, const Tensor& y) {
  const char* op = "add_scaled_forward";
  f32(op, "x", x);
  f32(op, "s", s);
  f32(op, "y", y);
  require_same_rows(op, "y", y, "x", x);
  require_numel(op, "s", s, x.dim(-1), "one per feature of x");
  require_disjoint(op, "x", x, "y", y);
  cpu::add_scaled_forward<float>(x.f32(), s.f32(), y.f32(), x.rows(), x.dim(-1));
}

void CpuBackend::add_scaled_backward(const Tensor& dy, const Tensor& ds, const Tensor& dx, const Tensor& s,
                                     const Tensor& y) {
  const char* op = "add_scaled_backward";
  for (auto [name, t] : {std::pair{"dy", &dy}, {"ds", &ds}, {"dx", &dx}, {"s", &s}, {"y", &y}}) f32(op, name, *t);
  require_same_rows(op, "dy", dy, "y", y);
  require_same_rows(op, "dx", dx, "y", y);
  require_numel(op, "s", s, y.dim(-1), "one per feature of y");
  require_numel(op, "ds", ds, y.dim(-1), "one per feature of y");
  require_disjoint(op, "dy", dy, "dx", dx);
  cpu::add_scaled_backward<float>(dy.f32(), ds.f32(), dx.f32(), s.f32(), y.f32(), y.rows(), y.dim(-1));
}

// ---- softcap + cross-entropy ----------------------------------------------------------------------------------------

void CpuBackend::softcap_ce_forward(const Tensor& losses, const Tensor& logits, const Tensor& targets, float cap) {
  const char* op = "softcap_ce_forward";
  f32(op, "losses", losses);
  f32(op, "logits", logits);
  i32(op, "targets", targets);
  DG_CHECK(cap > 0.0f, op << ": cap must be positive, got " << cap);
  require_numel(op, "targets", targets, logits.rows(), "one per row of logits");
  require_numel(op, "losses", losses, logits.rows(), "one per row of logits");
  require_ids_below(op, "targets", targets, logits.dim(-1));
  cpu::softcap_ce_forward<float>(losses.f32(), logits.f32(), targets.i32(), logits.rows(), logits.dim(-1), cap);
}

void CpuBackend::softcap_ce_backward(const Tensor& dlogits, const Tensor& logits, const Tensor& targets, float cap,
                                     float weight) {
  const char* op = "softcap_ce_backward";
  f32(op, "dlogits", dlogits);
  f32(op, "logits", logits);
  i32(op, "targets", targets);
  DG_CHECK(cap > 0.0f, op << ": cap must be positive, got " << cap);
  require_same_rows(op, "dlogits", dlogits, "logits", logits);
  require_numel(op, "targets", targets, logits.rows(), "one per row of logits");
  require_ids_below(op, "targets", targets, logits.dim(-1));
  require_disjoint(op, "dlogits", dlogits, "logits", logits);
  cpu::softcap_ce_backward<float>(dlogits.f32(), logits.f32(), targets.i32(), logits.rows(), logits.dim(-1), cap,
                                  weight);
}

// ---- optimizers -------------------------------------------------------------------------------------------------------

void CpuBackend::adam_update(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                             const AdamHyper& hyper) {
  const char* op = "adam_update";
  for (auto [name, t] : {std::pair{"param", &param}, {"grad", &grad}, {"m", &m}, {"v", &v}}) f32(op, name, *t);
  require_same_numel(op, "grad", grad, "param", param);
  require_same_numel(op, "m", m, "param", param);
  require_same_numel(op, "v", v, "param", param);
  DG_CHECK(hyper.step >= 1, op << ": step must be >= 1 (1-based for bias correction), got " << hyper.step);
  cpu::adam_update<float>(param.f32(), grad.f32(), m.f32(), v.f32(), param.numel(), hyper.lr, hyper.beta1,
                          hyper.beta2, hyper.eps, hyper.step);
}

void CpuBackend::newton_schulz(const Tensor& out, const Tensor& g, int steps, const Tensor& workspace) {
  const char* op = "newton_schulz";
  f32(op, "out", out);
  f32(op, "g", g);
  f32(op, "workspace", workspace);
  DG_CHECK(steps >= 0, op << ": steps must be >= 0, got " << steps);
  const int64_t rows = g.rows(), cols = g.dim(-1);
  require_same_rows(op, "out", out, "g", g);
  const int64_t needed = cpu::newton_schulz_workspace(rows, cols);
  DG_CHECK(workspace.numel() >= needed, op << ": workspace " << describe(workspace) << " holds " << workspace.numel()
                                           << " floats, g " << describe(g) << " needs " << needed);
  DG_CHECK(rows <= INT_MAX && cols <= INT_MAX, op << ": g " << describe(g) << " exceeds the BLAS int range");
  require_disjoint(op, "out", out, "g", g);
  require_disjoint(op, "out", out, "workspace", workspace);
  require_disjoint(op, "g", g, "workspace", workspace);
  cpu::newton_schulz<float>(out.f32(), g.f32(), rows, cols, steps, workspace.f32());
}

// ---- DART ops -------------------------------------------------------------------------------------------------------

void CpuBackend::memory_concat_forward(const Tensor& x, const Tensor& memory, const Tensor& tok) {
  const char* op = "memory_concat_forward";
  for (auto [name, t] : {std::pair{"x", &x}, {"memory", &memory}, {"tok", &tok}}) f32(op, name, *t);
  require_rank(op, "x", x, 3);
  require_rank(op, "tok", tok, 3);
  const int64_t batch = x.dim(0), seq = x.dim(1), dim = x.dim(2), tok_rows = tok.dim(1);
  DG_CHECK(tok.dim(0) == batch && tok.dim(2) == dim && tok_rows <= seq,
           op << ": tok " << describe(tok) << " must be [" << batch << ", T <= " << seq << ", " << dim << "] for x "
              << describe(x));
  require_numel(op, "memory", memory, (seq - tok_rows) * dim, "[memory rows, features of x]");
  require_disjoint(op, "x", x, "tok", tok);
  require_disjoint(op, "x", x, "memory", memory);
  cpu::memory_concat_forward<float>(x.f32(), memory.f32(), tok.f32(), batch, seq - tok_rows, tok_rows, dim);
}

void CpuBackend::memory_concat_backward(const Tensor& dmemory, const Tensor& dtok, const Tensor& dx) {
  const char* op = "memory_concat_backward";
  for (auto [name, t] : {std::pair{"dmemory", &dmemory}, {"dtok", &dtok}, {"dx", &dx}}) f32(op, name, *t);
  require_rank(op, "dx", dx, 3);
  require_rank(op, "dtok", dtok, 3);
  const int64_t batch = dx.dim(0), seq = dx.dim(1), dim = dx.dim(2), tok_rows = dtok.dim(1);
  DG_CHECK(dtok.dim(0) == batch && dtok.dim(2) == dim && tok_rows <= seq,
           op << ": dtok " << describe(dtok) << " must be [" << batch << ", T <= " << seq << ", " << dim
              << "] for dx " << describe(dx));
  require_numel(op, "dmemory", dmemory, (seq - tok_rows) * dim, "[memory rows, features of dx]");
  require_disjoint(op, "dx", dx, "dtok", dtok);
  require_disjoint(op, "dx", dx, "dmemory", dmemory);
  cpu::memory_concat_backward<float>(dmemory.f32(), dtok.f32(), dx.f32(), batch, seq - tok_rows, tok_rows, dim);
}

namespace {
void token_rows_shape(const char* op, const char* small_name, const Tensor& small, const char* big_name,
                      const Tensor& big) {
  require_rank(op, small_name, small, 3);
  require_rank(op, big_name, big, 3);
  DG_CHECK(small.dim(0) == big.dim(0) && small.dim(2) == big.dim(2) && small.dim(1) <= big.dim(1),
           op << ": " << small_name << " " << describe(small) << " must be [" << big.dim(0) << ", T <= " << big.dim(1)
              << ", " << big.dim(2) << "] for " << big_name << " " << describe(big));
  require_disjoint(op, small_name, small, big_name, big);
}
}  // namespace

void CpuBackend::token_rows_forward(const Tensor& out, const Tensor& x) {
  const char* op = "token_rows_forward";
  f32(op, "out", out);
  f32(op, "x", x);
  token_rows_shape(op, "out", out, "x", x);
  cpu::token_rows_forward<float>(out.f32(), x.f32(), x.dim(0), x.dim(1), out.dim(1), x.dim(2));
}

void CpuBackend::token_rows_backward(const Tensor& dx, const Tensor& dout) {
  const char* op = "token_rows_backward";
  f32(op, "dx", dx);
  f32(op, "dout", dout);
  token_rows_shape(op, "dout", dout, "dx", dx);
  cpu::token_rows_backward<float>(dx.f32(), dout.f32(), dx.dim(0), dx.dim(1), dout.dim(1), dx.dim(2));
}

void CpuBackend::add_vector_forward(const Tensor& x, const Tensor& v) {
  const char* op = "add_vector_forward";
  f32(op, "x", x);
  f32(op, "v", v);
  require_numel(op, "v", v, x.dim(-1), "one per feature of x");
  require_disjoint(op, "x", x, "v", v);
  cpu::add_vector_forward<float>(x.f32(), v.f32(), x.rows(), x.dim(-1));
}

void CpuBackend::add_vector_backward(const Tensor& dv, const Tensor& dx) {
  const char* op = "add_vector_backward";
  f32(op, "dv", dv);
  f32(op, "dx", dx);
  require_numel(op, "dv", dv, dx.dim(-1), "one per feature of dx");
  require_disjoint(op, "dv", dv, "dx", dx);
  cpu::add_vector_backward<float>(dv.f32(), dx.f32(), dx.rows(), dx.dim(-1));
}

namespace {
int64_t tile_copies(const char* op, const char* wide_name, const Tensor& wide, const char* narrow_name,
                    const Tensor& narrow) {
  DG_CHECK(wide.rows() == narrow.rows() && narrow.dim(-1) > 0 && wide.dim(-1) % narrow.dim(-1) == 0,
           op << ": " << wide_name << " " << describe(wide) << " must hold a whole number of copies of the rows of "
              << narrow_name << " " << describe(narrow));
  require_disjoint(op, wide_name, wide, narrow_name, narrow);
  return wide.dim(-1) / narrow.dim(-1);
}
}  // namespace

void CpuBackend::tile_columns_forward(const Tensor& out, const Tensor& x) {
  const char* op = "tile_columns_forward";
  f32(op, "out", out);
  f32(op, "x", x);
  const int64_t copies = tile_copies(op, "out", out, "x", x);
  cpu::tile_columns_forward<float>(out.f32(), x.f32(), x.rows(), x.dim(-1), copies);
}

void CpuBackend::tile_columns_backward(const Tensor& dx, const Tensor& dout) {
  const char* op = "tile_columns_backward";
  f32(op, "dx", dx);
  f32(op, "dout", dout);
  const int64_t copies = tile_copies(op, "dout", dout, "dx", dx);
  cpu::tile_columns_backward<float>(dx.f32(), dout.f32(), dx.rows(), dx.dim(-1), copies);
}

void CpuBackend::diff_lambda_forward(const Tensor& lambda, const Tensor& lq1, const Tensor& lk1, const Tensor& lq2,
                                     const Tensor& lk2, float lambda_init) {
  const char* op = "diff_lambda_forward";
  for (auto [name, t] : {std::pair{"lambda", &lambda}, {"lq1", &lq1}, {"lk1", &lk1}, {"lq2", &lq2}, {"lk2", &lk2}}) {
    f32(op, name, *t);
    require_numel(op, name, *t, lambda.numel(), "one per head");
  }
  cpu::diff_lambda_forward<float>(lambda.f32(), lq1.f32(), lk1.f32(), lq2.f32(), lk2.f32(), lambda_init,
                                  lambda.numel());
}

void CpuBackend::diff_lambda_backward(const Tensor& dlq1, const Tensor& dlk1, const Tensor& dlq2, const Tensor& dlk2,
                                      const Tensor& dlambda, const Tensor& lq1, const Tensor& lk1, const Tensor& lq2,
                                      const Tensor& lk2) {
  const char* op = "diff_lambda_backward";
  for (auto [name, t] : {std::pair{"dlq1", &dlq1}, {"dlk1", &dlk1}, {"dlq2", &dlq2}, {"dlk2", &dlk2},
                         {"dlambda", &dlambda}, {"lq1", &lq1}, {"lk1", &lk1}, {"lq2", &lq2}, {"lk2", &lk2}}) {
    f32(op, name, *t);
    require_numel(op, name, *t, dlambda.numel(), "one per head");
  }
  cpu::diff_lambda_backward<float>(dlq1.f32(), dlk1.f32(), dlq2.f32(), dlk2.f32(), dlambda.f32(), lq1.f32(), lk1.f32(),
                                   lq2.f32(), lk2.f32(), dlambda.numel());
}

void CpuBackend::sigmoid_forward(const Tensor& out, const Tensor& x) {
  const char* op = "sigmoid_forward";
  f32(op, "out", out);
  f32(op, "x", x);
  require_same_numel(op, "out", out, "x", x);
  cpu::sigmoid_forward<float>(out.f32(), x.f32(), x.numel());
}

void CpuBackend::sigmoid_backward(const Tensor& dx, const Tensor& dout, const Tensor& out) {
  const char* op = "sigmoid_backward";
  for (auto [name, t] : {std::pair{"dx", &dx}, {"dout", &dout}, {"out", &out}}) f32(op, name, *t);
  require_same_numel(op, "dx", dx, "out", out);
  require_same_numel(op, "dout", dout, "out", out);
  cpu::sigmoid_backward<float>(dx.f32(), dout.f32(), out.f32(), out.numel());
}

namespace {
cpu::DiffCombineShape diff_combine_shape(const char* op, const Tensor& out, const Tensor& a, const Tensor& lambda,
                                         bool interleaved) {
  require_rank(op, "a", a, 4);
  require_rank(op, "out", out, 4);
  DG_CHECK(a.dim(2) % 2 == 0, op << ": a " << describe(a) << " must hold an even number (2H) of heads");
  cpu::DiffCombineShape s{a.dim(0) * a.dim(1), a.dim(2) / 2, a.dim(3), false, interleaved};
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

void CpuBackend::diff_combine_forward(const Tensor& out, const Tensor& a, const Tensor& lambda, bool interleaved) {
  const char* op = "diff_combine_forward";
  for (auto [name, t] : {std::pair{"out", &out}, {"a", &a}, {"lambda", &lambda}}) f32(op, name, *t);
  const cpu::DiffCombineShape s = diff_combine_shape(op, out, a, lambda, interleaved);
  require_disjoint(op, "out", out, "a", a);
  cpu::diff_combine_forward<float>(out.f32(), a.f32(), lambda.f32(), s);
}

void CpuBackend::diff_combine_backward(const Tensor& da, const Tensor& dlambda, const Tensor& dout, const Tensor& a,
                                       const Tensor& lambda, bool interleaved) {
  const char* op = "diff_combine_backward";
  for (auto [name, t] : {std::pair{"da", &da}, {"dlambda", &dlambda}, {"dout", &dout}, {"a", &a}, {"lambda", &lambda}})
    f32(op, name, *t);
  const cpu::DiffCombineShape s = diff_combine_shape(op, dout, a, lambda, interleaved);
  require_same_shape(op, "da", da, "a", a);
  require_same_numel(op, "dlambda", dlambda, "lambda", lambda);
  require_disjoint(op, "da", da, "dout", dout);
  require_disjoint(op, "da", da, "dlambda", dlambda);
  cpu::diff_combine_backward<float>(da.f32(), dlambda.f32(), dout.f32(), a.f32(), lambda.f32(), s);
}

void CpuBackend::fake_quant_rows_forward(const Tensor& out, const Tensor& w) {
  const char* op = "fake_quant_rows_forward";
  f32(op, "out", out);
  f32(op, "w", w);
  require_rank(op, "w", w, 2);
  require_same_shape(op, "out", out, "w", w);
  DG_CHECK(out.data == w.data || out.bytes() == 0 || w.bytes() == 0 ||
               static_cast<const char*>(out.data) + out.bytes() <= static_cast<const char*>(w.data) ||
               static_cast<const char*>(w.data) + w.bytes() <= static_cast<const char*>(out.data),
           op << ": out and w must be the same buffer or disjoint");
  const float* p = w.f32();
  for (int64_t i = 0; i < w.numel(); ++i)
    DG_CHECK(std::isfinite(p[i]), op << ": w[" << i << "] = " << p[i]
                                     << " is not finite: fake quantization needs finite weights (did training diverge?)");
  if (w.numel() == 0) return;
  cpu::fake_quant_rows_forward<float>(out.f32(), w.f32(), w.dim(0), w.dim(1));
}

}  // namespace dg
