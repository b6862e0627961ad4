// One DART pass, forward and backward: block b at loop l (pass p = l·B + b) with that block's loop-l
// tensors. The attention itself is in dart_attention.cpp.
#include "core/error.h"
#include "model/dart_internal.h"

namespace dg {

void DartModel::pass_forward(int64_t pass) {
  const int64_t B = shape_.num_unique_blocks, l = pass / B, b = pass % B;
  const int64_t n = rows_ * full_seq_, D = shape_.model_dim, L = shape_.num_loops;
  const PassActs& a = passes_[static_cast<size_t>(pass)];
  const BlockParams p = block_params(b, false);
  auto A = [&](int handle) { return act(handle, n); };

  // x = resid_mix[0,l] ⊙ x + resid_mix[1,l] ⊙ x0 + loop_embed[l], or τ(x, x0[, skip]) + loop_embed[l].
  if (blocks_.has_loop_input()) {
    blocks_.loop_input_forward(block_context(), pass, pass_input(pass), A(global_->x0), skip_source(l), A(a.x_mix));
  } else {
    // The loop's two mix rows are L·d apart in [2, L, d]: gathered into one [2, d] so the shared op reads them.
    const Tensor mix = arena_.get(a.mix_params);
    backend_.copy(mix.slice(0, 1).view({D}), flat_part(p.resid_mix, l, D, {D}));
    backend_.copy(mix.slice(1, 2).view({D}), flat_part(p.resid_mix, L + l, D, {D}));
    backend_.resid_mix_forward(A(a.x_mix), pass_input(pass), A(global_->x0), mix);
  }
  backend_.add_vector_forward(A(a.x_mix), flat_part(p.loop_embed, l, D, {D}));

  backend_.rmsnorm_forward(A(a.attn_norm), A(a.attn_rstd), A(a.x_mix), kDartRmsEps);
  attention_forward(pass, p);
  backend_.copy(A(a.x_attn), A(a.x_mix));
  backend_.add_scaled_forward(A(a.x_attn), flat_part(p.attn_scale, l, D, {D}), A(a.y_attn));

  // MLP: relu², zero-initialised output projection, per-loop scale.
  backend_.rmsnorm_forward(A(a.mlp_norm), A(a.mlp_rstd), A(a.x_attn), kDartRmsEps);
  const Tensor mlp_in = blocks_.has_mlp_input() ? blocks_.mlp_input_forward(block_context(), pass, A(a.mlp_norm))
                                                : A(a.mlp_norm);
  backend_.matmul(A(a.fc), mlp_in, false, p.fc.view({shape_.mlp_hidden, D}), true, 1.0f, 0.0f);
  backend_.relu2_forward(A(a.h), A(a.fc));
  backend_.matmul(A(a.y_mlp), A(a.h), false, p.mlp_proj.view({D, shape_.mlp_hidden}), true, 1.0f, 0.0f);
  backend_.copy(A(a.x_out), A(a.x_attn));
  backend_.add_scaled_forward(A(a.x_out), flat_part(p.mlp_scale, l, D, {D}), A(a.y_mlp));
  if (blocks_.has_block_output()) blocks_.block_output_forward(block_context(), pass, A(a.x_out));
}

// dx: gradient of the pass's output (consumed); dx_in receives the gradient of its input.
void DartModel::pass_backward(int64_t pass, Tensor& dx, Tensor& dx_in) {
  const int64_t B = shape_.num_unique_blocks, l = pass / B, b = pass % B;
  const int64_t n = rows_ * full_seq_, D = shape_.model_dim, L = shape_.num_loops, F = shape_.mlp_hidden;
  const PassActs& a = passes_[static_cast<size_t>(pass)];
  const GlobalActs& g = *global_;
  const BlockParams p = block_params(b, false), dp = block_params(b, true);
  auto A = [&](int handle) { return act(handle, n); };
  const Tensor dy = A(g.dy), dnorm = A(g.dnorm), dh = A(g.dh), dfc = A(g.dfc);

  if (blocks_.has_block_output()) {
    // The pass output is DAAM(x_out): dx becomes ∂/∂x_out.
    const Tensor dx_out = A(g.dblock);
    blocks_.block_output_backward(block_context(), pass, A(a.x_out), dx_out, dx);
    backend_.copy(dx, dx_out);
  }

  // x_out = x_attn + mlp_scale[l] ⊙ proj(relu²(fc(mlp_in))), mlp_in = rmsnorm(x_attn) or DAAM of it.
  const Tensor mlp_in = blocks_.has_mlp_input() ? blocks_.mlp_input_value(arena_, pass, n) : A(a.mlp_norm);
  backend_.fill(dy, 0.0f);
  backend_.add_scaled_backward(dy, flat_part(dp.mlp_scale, l, D, {D}), dx, flat_part(p.mlp_scale, l, D, {D}), A(a.y_mlp));
  backend_.matmul(dh, dy, false, p.mlp_proj.view({D, F}), false, 1.0f, 0.0f);
  backend_.matmul(dp.mlp_proj.view({D, F}), dy, true, A(a.h), false, 1.0f, 1.0f);
  backend_.fill(dfc, 0.0f);
  backend_.relu2_backward(dfc, dh, A(a.fc));
  backend_.matmul(dnorm, dfc, false, p.fc.view({F, D}), false, 1.0f, 0.0f);
  backend_.matmul(dp.fc.view({F, D}), dfc, true, mlp_in, false, 1.0f, 1.0f);
  Tensor dmlp_norm = dnorm;
  if (blocks_.has_mlp_input()) {
    dmlp_norm = A(g.dblock);
    blocks_.mlp_input_backward(block_context(), pass, A(a.mlp_norm), dmlp_norm, dnorm);
  }
  backend_.rmsnorm_backward(dx, dmlp_norm, A(a.x_attn), A(a.mlp_rstd));  // dx is now ∂/∂x_attn

  // x_attn = x_mix + attn_scale[l] ⊙ attention(rmsnorm(x_mix)).
  backend_.fill(dy, 0.0f);
  backend_.add_scaled_backward(dy, flat_part(dp.attn_scale, l, D, {D}), dx, flat_part(p.attn_scale, l, D, {D}),
                               A(a.y_attn));
  attention_backward(pass, p, dp);  // ∂/∂attn_norm into g.dnorm
  backend_.rmsnorm_backward(dx, dnorm, A(a.x_mix), A(a.attn_rstd));  // dx is now ∂/∂x_mix

  // x_mix = resid_mix[0,l] ⊙ x_in + resid_mix[1,l] ⊙ x0 + loop_embed[l] (or τ(x_in, x0[, skip]) + ...).
  backend_.add_vector_backward(flat_part(dp.loop_embed, l, D, {D}), dx);
  if (blocks_.has_loop_input()) {
    backend_.fill(dx_in, 0.0f);
    blocks_.loop_input_backward(block_context(), pass, pass_input(pass), A(global_->x0), skip_source(l), dx_in,
                                A(g.dx0), skip_source_grad(l), dx);
    return;
  }
  const Tensor dmix = arena_.get(g.dmix);
  backend_.fill(dmix, 0.0f);
  backend_.fill(dx_in, 0.0f);
  backend_.resid_mix_backward(dx_in, A(g.dx0), dmix, dx, pass_input(pass), A(g.x0), arena_.get(a.mix_params));
  backend_.axpy(flat_part(dp.resid_mix, l, D, {D}), 1.0f, dmix.slice(0, 1).view({D}));
  backend_.axpy(flat_part(dp.resid_mix, L + l, D, {D}), 1.0f, dmix.slice(1, 2).view({D}));
}

}  // namespace dg
