#include "model/dart_layout.h"

#include "model/dart_blocks.h"

namespace dg {

std::string dart_block_prefix(const DartShape& s, int64_t block) {
  return s.num_unique_blocks == 1 ? std::string("block.") : "blocks." + std::to_string(block) + ".";
}

ParamLayout build_dart_layout(const DartShape& s) {
  // The PR's state_dict order: RLM's own tensors (memory, skip_weights), then its modules
  // (tok_emb, block); inside a block its own tensors, then attn, mlp and loop_embed.
  //
  // Optimizer groups follow the PR's main(): a block tensor goes to Muon when it is 2-D and its
  // name contains none of the PR's CONTROL_TENSOR_NAME_PATTERNS. So loop_embed.weight, attn_scale
  // and mlp_scale (2-D but control-named) and the 3-D delta_A/delta_B go to the scalar Adam with
  // the λ vectors, q_gain, resid_mix, memory and skip_weights (the PR's log: matrix_params
  // 3,276,800, scalar_params 117,800).
  // Pluggable blocks (docs/blocks.md) follow each block's own tensors, and the model-level ones
  // come last; a τ-fusion at loop_input replaces resid_mix.
  DartBlocks blocks(s);
  ParamLayout layout;
  const int64_t d = s.model_dim, L = s.num_loops, r = s.delta_rank, H = s.num_heads;
  layout.add("memory", {1, s.num_memory_tokens, d}, OptimGroup::Scalar, InitKind::Normal, 0.02f);
  layout.add("skip_weights", {DartShape::skip_count(L), d}, OptimGroup::Scalar, InitKind::Constant, 1.0f);
  layout.add("tok_emb.weight", {s.vocab_size, d}, OptimGroup::TokenEmbedding, InitKind::Normal, s.tied_embed_init_std);
  for (int64_t b = 0; b < s.num_unique_blocks; ++b) {
    const std::string p = dart_block_prefix(s, b);
    layout.add(p + "attn_scale", {L, d}, OptimGroup::Scalar, InitKind::Constant, 1.0f);
    layout.add(p + "mlp_scale", {L, d}, OptimGroup::Scalar, InitKind::Constant, 1.0f);
    if (!blocks.has_loop_input()) layout.add(p + "resid_mix", {2, L, d}, OptimGroup::Scalar, InitKind::ResidMix);
    if (!s.diff_v2()) {
      for (const char* name : {"attn.lambda_q1", "attn.lambda_k1", "attn.lambda_q2", "attn.lambda_k2"})
        layout.add(p + name, {H}, OptimGroup::Scalar, InitKind::Normal, 0.1f);
      layout.add(p + "attn.q_gain", {H}, OptimGroup::Scalar, InitKind::Constant, s.qk_gain_init);
    } else {
      layout.add(p + "attn.q_gain", {2 * H}, OptimGroup::Scalar, InitKind::Constant, s.qk_gain_init);
    }
    layout.add(p + "attn.delta_A", {L, 2 * d, r}, OptimGroup::Scalar, InitKind::Normal, 0.01f);
    layout.add(p + "attn.delta_B", {L, r, d}, OptimGroup::Scalar, InitKind::Constant, 0.0f);
    layout.add(p + "attn.c_q.weight", {s.q_width(), d}, OptimGroup::Matrix, InitKind::UniformFanIn);
    layout.add(p + "attn.c_k.weight", {s.k_width(), d}, OptimGroup::Matrix, InitKind::UniformFanIn);
    layout.add(p + "attn.c_v.weight", {s.v_width(), d}, OptimGroup::Matrix, InitKind::UniformFanIn);
    layout.add(p + "attn.proj.weight", {d, d}, OptimGroup::Matrix, InitKind::Constant, 0.0f);
    if (s.diff_v2()) layout.add(p + "attn.lambda_proj.weight", {H, d}, OptimGroup::Matrix, InitKind::UniformFanIn);
    layout.add(p + "mlp.fc.weight", {s.mlp_hidden, d}, OptimGroup::Matrix, InitKind::UniformFanIn);
    layout.add(p + "mlp.proj.weight", {d, s.mlp_hidden}, OptimGroup::Matrix, InitKind::Constant, 0.0f);
    layout.add(p + "loop_embed.weight", {L, d}, OptimGroup::Scalar, InitKind::Normal, 0.02f);
    if (blocks.any()) blocks.add_block_params(b, layout);
  }
  blocks.add_model_params(layout);
  return layout;
}

}  // namespace dg
