// Each op of backend.h has its argument checks here, once, for every backend: check_<op> takes the
// op's arguments and the device the backend runs on, throws dg::Error with the message both
// backends give ("rmsnorm_forward: out [4, 8] does not match x [4, 6]"), and returns the dimensions
// the kernels need where they take more than a tensor's own shape.
//
// Only what can be seen without reading tensor contents is checked: a CUDA tensor's data lives on
// the device. Checks that read values (ids in range, finite weights) stay with the backend that can
// afford them. Limits of one implementation (BLAS int ranges, launch sizes) stay with it too.
// op_checks.cpp holds the core ops and the activations, op_checks_dart.cpp the DART ops,
// op_checks_blocks.cpp the pluggable block ops.
#pragma once

#include <cstdint>

#include "backend/backend.h"
#include "backend/op_shapes.h"

namespace dg {

// ---- memory and elementwise -------------------------------------------------------------------------
void check_fill(Device device, const Tensor& dst);
void check_axpy(Device device, const Tensor& y, const Tensor& x);
void check_scale(Device device, const Tensor& x);
void check_sum_squares(Device device, const Tensor& x);

// ---- embedding (the ids' range is the CPU's own check: it reads them) ---------------------------------
void check_embedding_forward(Device device, const Tensor& out, const Tensor& table, const Tensor& ids);
void check_embedding_backward(Device device, const Tensor& dtable, const Tensor& dout, const Tensor& ids);

// ---- RMSNorm, matmul, rotary, per-head gain -------------------------------------------------------------
void check_rmsnorm_forward(Device device, const Tensor& out, const Tensor& rstd, const Tensor& x);
void check_rmsnorm_backward(Device device, const Tensor& dx, const Tensor& dout, const Tensor& x, const Tensor& rstd);
// Every operand is read as a matrix [rows(), last dim].
MatmulShape check_matmul(Device device, const Tensor& c, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b);
void check_rope(Device device, const Tensor& x, float base, int64_t start);
void check_head_scale_forward(Device device, const Tensor& out, const Tensor& x, const Tensor& gain);
void check_head_scale_backward(Device device, const Tensor& dx, const Tensor& dgain, const Tensor& dout,
                               const Tensor& x, const Tensor& gain);

// ---- attention ------------------------------------------------------------------------------------------
AttentionShape check_attention_forward(Device device, const Tensor& out, const Tensor& lse, const Tensor& q,
                                       const Tensor& k, const Tensor& v);
AttentionShape check_attention_backward(Device device, const Tensor& dq, const Tensor& dk, const Tensor& dv,
                                        const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                        const Tensor& out, const Tensor& lse);

// ---- activations (relu², sigmoid, GELU), residual mix, scaled add ------------------------------------------
void check_relu2_forward(Device device, const Tensor& out, const Tensor& x);
void check_relu2_backward(Device device, const Tensor& dx, const Tensor& dout, const Tensor& x);
void check_sigmoid_forward(Device device, const Tensor& out, const Tensor& x);
void check_sigmoid_backward(Device device, const Tensor& dx, const Tensor& dout, const Tensor& out);
void check_gelu_forward(Device device, const Tensor& out, const Tensor& x);
void check_gelu_backward(Device device, const Tensor& dx, const Tensor& dout, const Tensor& x);
void check_resid_mix_forward(Device device, const Tensor& out, const Tensor& x, const Tensor& x0, const Tensor& mix);
void check_resid_mix_backward(Device device, const Tensor& dx, const Tensor& dx0, const Tensor& dmix,
                              const Tensor& dout, const Tensor& x, const Tensor& x0, const Tensor& mix);
void check_add_scaled_forward(Device device, const Tensor& x, const Tensor& s, const Tensor& y);
void check_add_scaled_backward(Device device, const Tensor& dy, const Tensor& ds, const Tensor& dx, const Tensor& s,
                               const Tensor& y);

// ---- softcap + cross-entropy (the targets' range is the CPU's own check) -----------------------------------
void check_softcap_ce_forward(Device device, const Tensor& losses, const Tensor& logits, const Tensor& targets,
                              float cap);
void check_softcap_ce_backward(Device device, const Tensor& dlogits, const Tensor& logits, const Tensor& targets,
                               float cap);

// ---- optimizers, fake quantization (finite weights are checked by each backend its own way) ------------
void check_adam_update(Device device, const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                       const AdamHyper& hyper);
void check_newton_schulz(Device device, const Tensor& out, const Tensor& g, int steps, const Tensor& workspace);
void check_fake_quant_rows_forward(Device device, const Tensor& out, const Tensor& w);

// ---- DART ops (op_checks_dart.cpp) ---------------------------------------------------------------------------
void check_memory_concat_forward(Device device, const Tensor& x, const Tensor& memory, const Tensor& tok);
void check_memory_concat_backward(Device device, const Tensor& dmemory, const Tensor& dtok, const Tensor& dx);
void check_token_rows_forward(Device device, const Tensor& out, const Tensor& x);
void check_token_rows_backward(Device device, const Tensor& dx, const Tensor& dout);
void check_add_vector_forward(Device device, const Tensor& x, const Tensor& v);
void check_add_vector_backward(Device device, const Tensor& dv, const Tensor& dx);
// Both return the number of copies of x in out.
int64_t check_tile_columns_forward(Device device, const Tensor& out, const Tensor& x);
int64_t check_tile_columns_backward(Device device, const Tensor& dx, const Tensor& dout);
void check_diff_lambda_forward(Device device, const Tensor& lambda, const Tensor& lq1, const Tensor& lk1,
                               const Tensor& lq2, const Tensor& lk2);
void check_diff_lambda_backward(Device device, const Tensor& dlq1, const Tensor& dlk1, const Tensor& dlq2,
                                const Tensor& dlk2, const Tensor& dlambda, const Tensor& lq1, const Tensor& lk1,
                                const Tensor& lq2, const Tensor& lk2);
DiffCombineShape check_diff_combine_forward(Device device, const Tensor& out, const Tensor& a, const Tensor& lambda,
                                            bool interleaved);
DiffCombineShape check_diff_combine_backward(Device device, const Tensor& da, const Tensor& dlambda,
                                             const Tensor& dout, const Tensor& a, const Tensor& lambda,
                                             bool interleaved);

// ---- pluggable block ops (op_checks_blocks.cpp) ---------------------------------------------------------------
void check_tau_features_forward(Device device, const Tensor& features, const Tensor& streams);
void check_tau_features_backward(Device device, const Tensor& dstreams, const Tensor& dfeatures,
                                 const Tensor& streams);
void check_gated_add_forward(Device device, const Tensor& x, const Tensor& gate, const Tensor& s, const Tensor& y);
void check_gated_add_backward(Device device, const Tensor& dy, const Tensor& dgate, const Tensor& ds,
                              const Tensor& dx, const Tensor& gate, const Tensor& s, const Tensor& y);
DaamShape check_daam_gate_forward(Device device, const Tensor& out, const Tensor& mean, const Tensor& rstd,
                                  const Tensor& x, const Tensor& offset, const Tensor& scale, const Tensor& mix,
                                  float eps);
DaamShape check_daam_gate_backward(Device device, const Tensor& dx, const Tensor& doffset, const Tensor& dscale,
                                   const Tensor& dmix, const Tensor& dout, const Tensor& x, const Tensor& mean,
                                   const Tensor& rstd, const Tensor& offset, const Tensor& scale, const Tensor& mix);
DaamShape check_daam_density_forward(Device device, const Tensor& density, const Tensor& x, const Tensor& mean,
                                     const Tensor& rstd, const Tensor& offset, const Tensor& scale, const Tensor& mix);
HeadGateShape check_head_gate_forward(Device device, const Tensor& out, const Tensor& x, const Tensor& gate);
HeadGateShape check_head_gate_backward(Device device, const Tensor& dx, const Tensor& dgate, const Tensor& dout,
                                       const Tensor& x, const Tensor& gate);

}  // namespace dg
