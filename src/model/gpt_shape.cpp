#include "model/gpt_shape.h"

#include "core/error.h"

namespace dg {

GptShape GptShape::from_config(const Config& c) {
  GptShape s;
  DG_CHECK(c.at("blocks").empty(), "blocks=" << c.at("blocks").dump()
                                             << ": pluggable blocks are DART's (set model=dart, e.g. --preset dart)");
  s.vocab_size = c.get_int("vocab_size");
  s.num_layers = c.get_int("num_layers");
  s.model_dim = c.get_int("model_dim");
  s.num_heads = c.get_int("num_heads");
  s.num_kv_heads = c.get_int("num_kv_heads");
  s.tie_embeddings = c.get_bool("tie_embeddings");
  s.rope_base = static_cast<float>(c.get_double("rope_base"));
  s.logit_softcap = static_cast<float>(c.get_double("logit_softcap"));
  s.qk_gain_init = static_cast<float>(c.get_double("qk_gain_init"));
  s.tied_embed_init_std = static_cast<float>(c.get_double("tied_embed_init_std"));
  const int64_t mlp_mult = c.get_int("mlp_mult");

  DG_CHECK(s.vocab_size > 0 && s.vocab_size <= 65536, "vocab_size=" << s.vocab_size << " must be in 1..65536 (shards hold uint16 ids)");
  DG_CHECK(s.num_layers > 0, "num_layers=" << s.num_layers << " must be positive");
  DG_CHECK(s.model_dim > 0 && s.num_heads > 0 && s.num_kv_heads > 0 && mlp_mult > 0,
           "model_dim, num_heads, num_kv_heads and mlp_mult must be positive");
  DG_CHECK(s.model_dim % s.num_heads == 0,
           "model_dim=" << s.model_dim << " must be divisible by num_heads=" << s.num_heads);
  DG_CHECK(s.num_heads % s.num_kv_heads == 0,
           "num_heads=" << s.num_heads << " must be divisible by num_kv_heads=" << s.num_kv_heads);
  s.head_dim = s.model_dim / s.num_heads;
  DG_CHECK(s.head_dim % 2 == 0, "head_dim=model_dim/num_heads=" << s.head_dim << " must be even for RoPE");
  DG_CHECK(s.logit_softcap > 0.0f, "logit_softcap=" << s.logit_softcap << " must be positive");
  s.mlp_hidden = mlp_mult * s.model_dim;
  return s;
}

}  // namespace dg
