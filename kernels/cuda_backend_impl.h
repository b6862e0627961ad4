// The CUDA backend: every op of backend.h on one GPU (or on the CPU emulator), in the kernel dialect
// of docs/cuda-emulator.md. Shared by the op files that implement it (cuda_backend.cu: memory,
// copies and matmul; ops_*.cu: the op families). Argument checks are the CPU backend's
// (backend/op_checks.h), so both backends refuse the same mistakes with the same messages.
#pragma once

#include <cuda_runtime.h>

#include <string>
#include <unordered_map>

#include "backend/backend.h"
#include "backend/backend_factory.h"

namespace dg::cuda {

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const CudaBackendOptions& options);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  Device device() const override { return Device::CUDA; }
  const char* name() const override { return "cuda"; }
  std::string description() const override;
  int64_t peak_allocated_bytes() const override { return peak_bytes_; }
  Precision precision() const { return options_.precision; }
  cudaStream_t stream() const { return stream_; }

  // ---- cuda_backend.cu: memory, copies, matmul (dg::cuda::gemm) --------------------------------
  void* allocate(int64_t bytes) override;
  void release(void* ptr) override;
  void copy_to_host(void* host_dst, const Tensor& src) override;
  void copy_from_host(const Tensor& dst, const void* host_src) override;
  void copy(const Tensor& dst, const Tensor& src) override;
  void fill(const Tensor& dst, float value) override;
  void synchronize() override;
  void matmul(const Tensor& c, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, float alpha,
              float beta) override;

  // ---- ops_elementwise.cu --------------------------------------------------------------------
  void axpy(const Tensor& y, float alpha, const Tensor& x) override;
  void scale(const Tensor& x, float alpha) override;
  double sum_squares(const Tensor& x) override;
  void relu2_forward(const Tensor& out, const Tensor& x) override;
  void relu2_backward(const Tensor& dx, const Tensor& dout, const Tensor& x) override;
  void resid_mix_forward(const Tensor& out, const Tensor& x, const Tensor& x0, const Tensor& mix) override;
  void resid_mix_backward(const Tensor& dx, const Tensor& dx0, const Tensor& dmix, const Tensor& dout,
                          const Tensor& x, const Tensor& x0, const Tensor& mix) override;
  void add_scaled_forward(const Tensor& x, const Tensor& s, const Tensor& y) override;
  void add_scaled_backward(const Tensor& dy, const Tensor& ds, const Tensor& dx, const Tensor& s,
                           const Tensor& y) override;
  void head_scale_forward(const Tensor& out, const Tensor& x, const Tensor& gain) override;
  void head_scale_backward(const Tensor& dx, const Tensor& dgain, const Tensor& dout, const Tensor& x,
                           const Tensor& gain) override;
  void sigmoid_forward(const Tensor& out, const Tensor& x) override;
  void sigmoid_backward(const Tensor& dx, const Tensor& dout, const Tensor& out) override;
  void gelu_forward(const Tensor& out, const Tensor& x) override;
  void gelu_backward(const Tensor& dx, const Tensor& dout, const Tensor& x) override;
  void gated_add_forward(const Tensor& x, const Tensor& gate, const Tensor& s, const Tensor& y) override;
  void gated_add_backward(const Tensor& dy, const Tensor& dgate, const Tensor& ds, const Tensor& dx, const Tensor& gate,
                          const Tensor& s, const Tensor& y) override;

  // ---- ops_norm_rope.cu ----------------------------------------------------------------------
  void rmsnorm_forward(const Tensor& out, const Tensor& rstd, const Tensor& x, float eps) override;
  void rmsnorm_backward(const Tensor& dx, const Tensor& dout, const Tensor& x, const Tensor& rstd) override;
  void rope(const Tensor& x, float base, int64_t start, bool inverse) override;

  // ---- ops_attention.cu: causal GQA attention, tiled (no T×T matrix) ------------------------
  void attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                         float softmax_scale) override;
  void attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout, const Tensor& q,
                          const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                          float softmax_scale) override;

  // ---- ops_loss.cu: embedding, logit softcap + cross-entropy -------------------------------------
  void embedding_forward(const Tensor& out, const Tensor& table, const Tensor& ids) override;
  void embedding_backward(const Tensor& dtable, const Tensor& dout, const Tensor& ids) override;
  void softcap_ce_forward(const Tensor& losses, const Tensor& logits, const Tensor& targets, float cap) override;
  void softcap_ce_backward(const Tensor& dlogits, const Tensor& logits, const Tensor& targets, float cap,
                           float weight) override;

  // ---- ops_optim.cu: Adam, Muon's Newton–Schulz, QAT's per-row fake quantization ---------------
  void adam_update(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                   const AdamHyper& hyper) override;
  void newton_schulz(const Tensor& out, const Tensor& g, int steps, const Tensor& workspace) override;
  void fake_quant_rows_forward(const Tensor& out, const Tensor& w) override;

  // ---- ops_dart.cu -------------------------------------------------------------------------------
  void memory_concat_forward(const Tensor& x, const Tensor& memory, const Tensor& tok) override;
  void memory_concat_backward(const Tensor& dmemory, const Tensor& dtok, const Tensor& dx) override;
  void token_rows_forward(const Tensor& out, const Tensor& x) override;
  void token_rows_backward(const Tensor& dx, const Tensor& dout) override;
  void add_vector_forward(const Tensor& x, const Tensor& v) override;
  void add_vector_backward(const Tensor& dv, const Tensor& dx) override;
  void tile_columns_forward(const Tensor& out, const Tensor& x) override;
  void tile_columns_backward(const Tensor& dx, const Tensor& dout) override;
  void diff_lambda_forward(const Tensor& lambda, const Tensor& lq1, const Tensor& lk1, const Tensor& lq2,
                           const Tensor& lk2, float lambda_init) override;
  void diff_lambda_backward(const Tensor& dlq1, const Tensor& dlk1, const Tensor& dlq2, const Tensor& dlk2,
                            const Tensor& dlambda, const Tensor& lq1, const Tensor& lk1, const Tensor& lq2,
                            const Tensor& lk2) override;
  void diff_combine_forward(const Tensor& out, const Tensor& a, const Tensor& lambda, bool interleaved) override;
  void diff_combine_backward(const Tensor& da, const Tensor& dlambda, const Tensor& dout, const Tensor& a,
                             const Tensor& lambda, bool interleaved) override;

  // ---- ops_blocks.cu: τ-fusion features, the DAAM density gate, the headwise gate ----------------
  void tau_features_forward(const Tensor& features, const Tensor& streams) override;
  void tau_features_backward(const Tensor& dstreams, const Tensor& dfeatures, const Tensor& streams) override;
  void daam_gate_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                         const Tensor& offset, const Tensor& scale, const Tensor& mix, float eps,
                         bool residual) override;
  void daam_gate_backward(const Tensor& dx, const Tensor& doffset, const Tensor& dscale, const Tensor& dmix,
                          const Tensor& dout, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                          const Tensor& offset, const Tensor& scale, const Tensor& mix, bool residual) override;
  void daam_density_forward(const Tensor& density, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                            const Tensor& offset, const Tensor& scale, const Tensor& mix) override;
  void head_gate_forward(const Tensor& out, const Tensor& x, const Tensor& gate, float gain) override;
  void head_gate_backward(const Tensor& dx, const Tensor& dgate, const Tensor& dout, const Tensor& x,
                          const Tensor& gate, float gain) override;

 private:
  // A device buffer of at least `bytes`, grown (never shrunk) on demand: matmul's bf16 copies of
  // its operands. It grows during the first step and stays, so later steps allocate nothing.
  void* scratch(int slot, int64_t bytes);

  CudaBackendOptions options_;
  cudaStream_t stream_ = nullptr;
  std::string device_name_;
  int64_t allocated_bytes_ = 0, peak_bytes_ = 0;
  struct Scratch {
    void* ptr = nullptr;
    int64_t bytes = 0;
  };
  Scratch scratch_[3];
  std::unordered_map<void*, int64_t> allocations_;  // live allocations and their sizes
};

}  // namespace dg::cuda
