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
#include "backend/op_checks.h"
#include "backend/shape_checks.h"

namespace dg {

using namespace shape_checks;

namespace {

constexpr int64_t kAlignment = 256;

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
  check_fill(Device::CPU, dst);
  cpu::fill<float>(dst.f32(), value, dst.numel());
}

// ---- elementwise ------------------------------------------------------------------------------------

void CpuBackend::axpy(const Tensor& y, float alpha, const Tensor& x) {
  check_axpy(Device::CPU, y, x);
  cpu::axpy<float>(y.f32(), alpha, x.f32(), y.numel());
}

void CpuBackend::scale(const Tensor& x, float alpha) {
  check_scale(Device::CPU, x);
  cpu::scale<float>(x.f32(), alpha, x.numel());
}

double CpuBackend::sum_squares(const Tensor& x) {
  check_sum_squares(Device::CPU, x);
  return cpu::sum_squares<float>(x.f32(), x.numel());
}

// ---- embedding ----------------------------------------------------------------------------------------

void CpuBackend::embedding_forward(const Tensor& out, const Tensor& table, const Tensor& ids) {
  check_embedding_forward(Device::CPU, out, table, ids);
  require_ids_below("embedding_forward", "ids", ids, table.dim(0));
  cpu::embedding_forward<float>(out.f32(), table.f32(), ids.i32(), ids.numel(), table.dim(1));
}

void CpuBackend::embedding_backward(const Tensor& dtable, const Tensor& dout, const Tensor& ids) {
  check_embedding_backward(Device::CPU, dtable, dout, ids);
  require_ids_below("embedding_backward", "ids", ids, dtable.dim(0));
  cpu::embedding_backward<float>(dtable.f32(), dout.f32(), ids.i32(), ids.numel(), dtable.dim(1));
}

// ---- RMSNorm ----------------------------------------------------------------------------------------------

void CpuBackend::rmsnorm_forward(const Tensor& out, const Tensor& rstd, const Tensor& x, float eps) {
  check_rmsnorm_forward(Device::CPU, out, rstd, x);
  cpu::rmsnorm_forward<float>(out.f32(), rstd.f32(), x.f32(), x.rows(), x.dim(-1), eps);
}

void CpuBackend::rmsnorm_backward(const Tensor& dx, const Tensor& dout, const Tensor& x, const Tensor& rstd) {
  check_rmsnorm_backward(Device::CPU, dx, dout, x, rstd);
  cpu::rmsnorm_backward<float>(dx.f32(), dout.f32(), x.f32(), rstd.f32(), x.rows(), x.dim(-1));
}

// ---- matmul -----------------------------------------------------------------------------------------------

void CpuBackend::matmul(const Tensor& c, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, float alpha,
                        float beta) {
  const MatmulShape s = check_matmul(Device::CPU, c, a, trans_a, b, trans_b);
  DG_CHECK(s.m <= INT_MAX && s.n <= INT_MAX && s.k <= INT_MAX,
           "matmul: dimensions " << s.m << "×" << s.k << "×" << s.n << " exceed the BLAS int range");
  cpu::gemm<float>(c.f32(), a.f32(), trans_a, b.f32(), trans_b, s.m, s.n, s.k, alpha, beta);
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
  check_rope(Device::CPU, x, base, start);
  const int64_t seq = x.dim(1), head_dim = x.dim(3);
  if (start == seq) return;
  const RopeCache& tables = rope_tables(base, head_dim, seq - start);
  cpu::rope_apply<float>(x.f32(), tables.cos_table.data(), tables.sin_table.data(), x.dim(0), seq, x.dim(2), head_dim,
                         start, inverse);
}

// ---- per-head gain ------------------------------------------------------------------------------------------

void CpuBackend::head_scale_forward(const Tensor& out, const Tensor& x, const Tensor& gain) {
  check_head_scale_forward(Device::CPU, out, x, gain);
  cpu::head_scale_forward<float>(out.f32(), x.f32(), gain.f32(), x.dim(0) * x.dim(1), x.dim(2), x.dim(3));
}

void CpuBackend::head_scale_backward(const Tensor& dx, const Tensor& dgain, const Tensor& dout, const Tensor& x,
                                     const Tensor& gain) {
  check_head_scale_backward(Device::CPU, dx, dgain, dout, x, gain);
  cpu::head_scale_backward<float>(dx.f32(), dgain.f32(), dout.f32(), x.f32(), gain.f32(), x.dim(0) * x.dim(1),
                                  x.dim(2), x.dim(3));
}

// ---- attention ----------------------------------------------------------------------------------------------

void CpuBackend::attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                                   const Tensor& v, float softmax_scale) {
  const AttentionShape s = check_attention_forward(Device::CPU, out, lse, q, k, v);
  cpu::attention_forward<float>(out.f32(), lse.f32(), q.f32(), k.f32(), v.f32(), s, softmax_scale);
}

void CpuBackend::attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                                    const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                    const Tensor& lse, float softmax_scale) {
  const AttentionShape s = check_attention_backward(Device::CPU, dq, dk, dv, dout, q, k, v, out, lse);
  cpu::attention_backward<float>(dq.f32(), dk.f32(), dv.f32(), dout.f32(), q.f32(), k.f32(), v.f32(), out.f32(),
                                 lse.f32(), s, softmax_scale);
}

// ---- relu² ---------------------------------------------------------------------------------------------------

void CpuBackend::relu2_forward(const Tensor& out, const Tensor& x) {
  check_relu2_forward(Device::CPU, out, x);
  cpu::relu2_forward<float>(out.f32(), x.f32(), x.numel());
}

void CpuBackend::relu2_backward(const Tensor& dx, const Tensor& dout, const Tensor& x) {
  check_relu2_backward(Device::CPU, dx, dout, x);
  cpu::relu2_backward<float>(dx.f32(), dout.f32(), x.f32(), x.numel());
}

// ---- residual mix ----------------------------------------------------------------------------------------------

void CpuBackend::resid_mix_forward(const Tensor& out, const Tensor& x, const Tensor& x0, const Tensor& mix) {
  check_resid_mix_forward(Device::CPU, out, x, x0, mix);
  cpu::resid_mix_forward<float>(out.f32(), x.f32(), x0.f32(), mix.f32(), x.rows(), x.dim(-1));
}

void CpuBackend::resid_mix_backward(const Tensor& dx, const Tensor& dx0, const Tensor& dmix, const Tensor& dout,
                                    const Tensor& x, const Tensor& x0, const Tensor& mix) {
  check_resid_mix_backward(Device::CPU, dx, dx0, dmix, dout, x, x0, mix);
  cpu::resid_mix_backward<float>(dx.f32(), dx0.f32(), dmix.f32(), dout.f32(), x.f32(), x0.f32(), mix.f32(), x.rows(),
                                 x.dim(-1));
}

// ---- scaled residual add ------------------------------------------------------------------------------------------

void CpuBackend::add_scaled_forward(const Tensor& x, const Tensor& s, const Tensor& y) {
  check_add_scaled_forward(Device::CPU, x, s, y);
  cpu::add_scaled_forward<float>(x.f32(), s.f32(), y.f32(), x.rows(), x.dim(-1));
}

void CpuBackend::add_scaled_backward(const Tensor& dy, const Tensor& ds, const Tensor& dx, const Tensor& s,
                                     const Tensor& y) {
  check_add_scaled_backward(Device::CPU, dy, ds, dx, s, y);
  cpu::add_scaled_backward<float>(dy.f32(), ds.f32(), dx.f32(), s.f32(), y.f32(), y.rows(), y.dim(-1));
}

// ---- softcap + cross-entropy ----------------------------------------------------------------------------------------

void CpuBackend::softcap_ce_forward(const Tensor& losses, const Tensor& logits, const Tensor& targets, float cap) {
  check_softcap_ce_forward(Device::CPU, losses, logits, targets, cap);
  require_ids_below("softcap_ce_forward", "targets", targets, logits.dim(-1));
  cpu::softcap_ce_forward<float>(losses.f32(), logits.f32(), targets.i32(), logits.rows(), logits.dim(-1), cap);
}

void CpuBackend::softcap_ce_backward(const Tensor& dlogits, const Tensor& logits, const Tensor& targets, float cap,
                                     float weight) {
  check_softcap_ce_backward(Device::CPU, dlogits, logits, targets, cap);
  require_ids_below("softcap_ce_backward", "targets", targets, logits.dim(-1));
  cpu::softcap_ce_backward<float>(dlogits.f32(), logits.f32(), targets.i32(), logits.rows(), logits.dim(-1), cap,
                                  weight);
}

// ---- optimizers -------------------------------------------------------------------------------------------------------

void CpuBackend::adam_update(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                             const AdamHyper& hyper) {
  check_adam_update(Device::CPU, param, grad, m, v, hyper);
  cpu::adam_update<float>(param.f32(), grad.f32(), m.f32(), v.f32(), param.numel(), hyper.lr, hyper.beta1,
                          hyper.beta2, hyper.eps, hyper.step);
}

void CpuBackend::newton_schulz(const Tensor& out, const Tensor& g, int steps, const Tensor& workspace) {
  check_newton_schulz(Device::CPU, out, g, steps, workspace);
  cpu::newton_schulz<float>(out.f32(), g.f32(), g.rows(), g.dim(-1), steps, workspace.f32());
}

// ---- DART ops -------------------------------------------------------------------------------------------------------

void CpuBackend::memory_concat_forward(const Tensor& x, const Tensor& memory, const Tensor& tok) {
  check_memory_concat_forward(Device::CPU, x, memory, tok);
  const int64_t seq = x.dim(1), tok_rows = tok.dim(1);
  cpu::memory_concat_forward<float>(x.f32(), memory.f32(), tok.f32(), x.dim(0), seq - tok_rows, tok_rows, x.dim(2));
}

void CpuBackend::memory_concat_backward(const Tensor& dmemory, const Tensor& dtok, const Tensor& dx) {
  check_memory_concat_backward(Device::CPU, dmemory, dtok, dx);
  const int64_t seq = dx.dim(1), tok_rows = dtok.dim(1);
  cpu::memory_concat_backward<float>(dmemory.f32(), dtok.f32(), dx.f32(), dx.dim(0), seq - tok_rows, tok_rows,
                                     dx.dim(2));
}

void CpuBackend::token_rows_forward(const Tensor& out, const Tensor& x) {
  check_token_rows_forward(Device::CPU, out, x);
  cpu::token_rows_forward<float>(out.f32(), x.f32(), x.dim(0), x.dim(1), out.dim(1), x.dim(2));
}

void CpuBackend::token_rows_backward(const Tensor& dx, const Tensor& dout) {
  check_token_rows_backward(Device::CPU, dx, dout);
  cpu::token_rows_backward<float>(dx.f32(), dout.f32(), dx.dim(0), dx.dim(1), dout.dim(1), dx.dim(2));
}

void CpuBackend::add_vector_forward(const Tensor& x, const Tensor& v) {
  check_add_vector_forward(Device::CPU, x, v);
  cpu::add_vector_forward<float>(x.f32(), v.f32(), x.rows(), x.dim(-1));
}

void CpuBackend::add_vector_backward(const Tensor& dv, const Tensor& dx) {
  check_add_vector_backward(Device::CPU, dv, dx);
  cpu::add_vector_backward<float>(dv.f32(), dx.f32(), dx.rows(), dx.dim(-1));
}

void CpuBackend::tile_columns_forward(const Tensor& out, const Tensor& x) {
  const int64_t copies = check_tile_columns_forward(Device::CPU, out, x);
  cpu::tile_columns_forward<float>(out.f32(), x.f32(), x.rows(), x.dim(-1), copies);
}

void CpuBackend::tile_columns_backward(const Tensor& dx, const Tensor& dout) {
  const int64_t copies = check_tile_columns_backward(Device::CPU, dx, dout);
  cpu::tile_columns_backward<float>(dx.f32(), dout.f32(), dx.rows(), dx.dim(-1), copies);
}

void CpuBackend::diff_lambda_forward(const Tensor& lambda, const Tensor& lq1, const Tensor& lk1, const Tensor& lq2,
                                     const Tensor& lk2, float lambda_init) {
  check_diff_lambda_forward(Device::CPU, lambda, lq1, lk1, lq2, lk2);
  cpu::diff_lambda_forward<float>(lambda.f32(), lq1.f32(), lk1.f32(), lq2.f32(), lk2.f32(), lambda_init,
                                  lambda.numel());
}

void CpuBackend::diff_lambda_backward(const Tensor& dlq1, const Tensor& dlk1, const Tensor& dlq2, const Tensor& dlk2,
                                      const Tensor& dlambda, const Tensor& lq1, const Tensor& lk1, const Tensor& lq2,
                                      const Tensor& lk2) {
  check_diff_lambda_backward(Device::CPU, dlq1, dlk1, dlq2, dlk2, dlambda, lq1, lk1, lq2, lk2);
  cpu::diff_lambda_backward<float>(dlq1.f32(), dlk1.f32(), dlq2.f32(), dlk2.f32(), dlambda.f32(), lq1.f32(), lk1.f32(),
                                   lq2.f32(), lk2.f32(), dlambda.numel());
}

void CpuBackend::sigmoid_forward(const Tensor& out, const Tensor& x) {
  check_sigmoid_forward(Device::CPU, out, x);
  cpu::sigmoid_forward<float>(out.f32(), x.f32(), x.numel());
}

void CpuBackend::sigmoid_backward(const Tensor& dx, const Tensor& dout, const Tensor& out) {
  check_sigmoid_backward(Device::CPU, dx, dout, out);
  cpu::sigmoid_backward<float>(dx.f32(), dout.f32(), out.f32(), out.numel());
}

void CpuBackend::diff_combine_forward(const Tensor& out, const Tensor& a, const Tensor& lambda, bool interleaved) {
  const DiffCombineShape s = check_diff_combine_forward(Device::CPU, out, a, lambda, interleaved);
  cpu::diff_combine_forward<float>(out.f32(), a.f32(), lambda.f32(), s);
}

void CpuBackend::diff_combine_backward(const Tensor& da, const Tensor& dlambda, const Tensor& dout, const Tensor& a,
                                       const Tensor& lambda, bool interleaved) {
  const DiffCombineShape s = check_diff_combine_backward(Device::CPU, da, dlambda, dout, a, lambda, interleaved);
  cpu::diff_combine_backward<float>(da.f32(), dlambda.f32(), dout.f32(), a.f32(), lambda.f32(), s);
}

void CpuBackend::fake_quant_rows_forward(const Tensor& out, const Tensor& w) {
  const char* op = "fake_quant_rows_forward";
  check_fake_quant_rows_forward(Device::CPU, out, w);
  const float* p = w.f32();
  for (int64_t i = 0; i < w.numel(); ++i)
    DG_CHECK(std::isfinite(p[i]), op << ": w[" << i << "] = " << p[i]
                                     << " is not finite: fake quantization needs finite weights (did training diverge?)");
  if (w.numel() == 0) return;
  cpu::fake_quant_rows_forward<float>(out.f32(), w.f32(), w.dim(0), w.dim(1));
}

}  // namespace dg
