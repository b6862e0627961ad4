#include "model/dart_shape.h"

#include <cmath>

#include "core/error.h"

namespace dg {

double DartShape::lambda_init() { return 0.8 - 0.6 * std::exp(-0.3); }

std::vector<double> DartShape::loop_weights(int64_t n) const {
  std::vector<double> w(static_cast<size_t>(n));
  double total = 0.0;
  // std::pow(0, 0) is 1: γ = 0 trains on the last loop only.
  for (int64_t l = 0; l < n; ++l) total += w[static_cast<size_t>(l)] = std::pow(deep_sup_gamma, static_cast<double>(n - 1 - l));
  for (double& x : w) x /= total;
  return w;
}

const char* attention_name(DartShape::Attention attention) {
  return attention == DartShape::Attention::Diff ? "diff" : "diff_v2";
}

const char* eval_loss_name(DartShape::EvalLoss eval_loss) {
  return eval_loss == DartShape::EvalLoss::LastLoop ? "last_loop" : "deep_supervision";
}

namespace {
// The sizes each block gets at its site (all sites are d wide), checked once so a bad entry fails
// at startup naming it.
void validate_block_sizes(const DartShape& s) {
  for (size_t i = 0; i < s.blocks.size(); ++i) {
    const blocks::BlockSpec& b = s.blocks[i];
    const std::string where = "blocks[" + std::to_string(i) + "] (" + b.label() + ")";
    switch (b.type) {
      case blocks::BlockType::TauFusion:
        DG_CHECK(b.latent <= s.model_dim, where << ": latent=" << b.latent << " exceeds model_dim=" << s.model_dim);
        DG_CHECK(b.site != blocks::BlockSite::LoopOutput || s.num_loops >= 2,
                 where << ": loop_output fuses the outputs of num_loops loops and needs at least 2, got num_loops="
                       << s.num_loops);
        break;
      case blocks::BlockType::Daam: blocks::daam_config(b, s.model_dim).validate(where); break;
      case blocks::BlockType::HeadGate: break;
    }
  }
}
}  // namespace

DartShape DartShape::from_config(const Config& c) {
  DartShape s;
  s.vocab_size = c.get_int("vocab_size");
  s.model_dim = c.get_int("model_dim");
  s.num_heads = c.get_int("num_heads");
  s.num_kv_heads = c.get_int("num_kv_heads");
  s.rope_base = static_cast<float>(c.get_double("rope_base"));
  s.logit_softcap = static_cast<float>(c.get_double("logit_softcap"));
  s.qk_gain_init = static_cast<float>(c.get_double("qk_gain_init"));
  s.tied_embed_init_std = static_cast<float>(c.get_double("tied_embed_init_std"));
  const int64_t mlp_mult = c.get_int("mlp_mult");
  s.num_unique_blocks = c.get_int("num_unique_blocks");
  s.num_loops = c.get_int("num_loops");
  s.num_memory_tokens = c.get_int("num_memory_tokens");
  s.delta_rank = c.get_int("delta_rank");
  s.deep_sup_gamma = c.get_double("deep_sup_gamma");
  s.qat_wq = c.get_bool("qat_wq");
  s.loop_dropout = c.get_bool("loop_dropout");
  s.loop_dropout_min_loops = c.get_int("loop_dropout_min_loops");
  s.seed = static_cast<uint64_t>(c.get_int("seed"));

  const std::string attention = c.get_string("attention");
  if (attention == "diff") s.attention = Attention::Diff;
  else if (attention == "diff_v2") s.attention = Attention::DiffV2;
  else DG_THROW("attention='" << attention << "' is not a DART attention: use diff (the PR's) or diff_v2 (Microsoft's DIFF V2)");
  const std::string eval_loss = c.get_string("eval_loss");
  if (eval_loss == "last_loop") s.eval_loss = EvalLoss::LastLoop;
  else if (eval_loss == "deep_supervision") s.eval_loss = EvalLoss::DeepSupervision;
  else DG_THROW("eval_loss='" << eval_loss << "' is not valid: use last_loop or deep_supervision (the PR's weighted score)");

  DG_CHECK(c.get_bool("tie_embeddings"), "tie_embeddings=false: DART ties its output head to tok_emb (set tie_embeddings=1)");
  DG_CHECK(s.vocab_size > 0 && s.vocab_size <= 65536, "vocab_size=" << s.vocab_size << " must be in 1..65536 (shards hold uint16 ids)");
  DG_CHECK(s.model_dim > 0 && s.num_heads > 0 && s.num_kv_heads > 0 && mlp_mult > 0,
           "model_dim, num_heads, num_kv_heads and mlp_mult must be positive");
  DG_CHECK(s.model_dim % s.num_heads == 0, "model_dim=" << s.model_dim << " must be divisible by num_heads=" << s.num_heads);
  DG_CHECK(s.num_heads % s.num_kv_heads == 0,
           "num_heads=" << s.num_heads << " must be divisible by num_kv_heads=" << s.num_kv_heads);
  s.head_dim = s.model_dim / s.num_heads;
  DG_CHECK(s.head_dim % 2 == 0, "head_dim=model_dim/num_heads=" << s.head_dim << " must be even for RoPE");
  DG_CHECK(s.logit_softcap > 0.0f, "logit_softcap=" << s.logit_softcap << " must be positive");
  DG_CHECK(s.num_unique_blocks >= 1, "num_unique_blocks=" << s.num_unique_blocks << " must be at least 1");
  DG_CHECK(s.num_loops >= 1, "num_loops=" << s.num_loops << " must be at least 1");
  DG_CHECK(s.num_memory_tokens >= 0, "num_memory_tokens=" << s.num_memory_tokens << " must not be negative");
  DG_CHECK(s.delta_rank >= 0, "delta_rank=" << s.delta_rank << " must not be negative (0: no per-loop W_q delta)");
  DG_CHECK(s.deep_sup_gamma >= 0.0 && std::isfinite(s.deep_sup_gamma),
           "deep_sup_gamma=" << s.deep_sup_gamma << " must be a finite number >= 0 (0: train on the last loop only)");
  DG_CHECK(s.loop_dropout_min_loops >= 1 && s.loop_dropout_min_loops <= s.num_loops,
           "loop_dropout_min_loops=" << s.loop_dropout_min_loops << " must be in 1..num_loops=" << s.num_loops);
  s.mlp_hidden = mlp_mult * s.model_dim;
  s.blocks = blocks::parse_block_specs(c.at("blocks"), s.num_heads);
  validate_block_sizes(s);
  return s;
}

}  // namespace dg
