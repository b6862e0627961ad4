// The baseline model's dimensions, read from a run config and validated once.
#pragma once

#include <cstdint>

#include "core/config.h"

namespace dg {

struct GptShape {
  int64_t vocab_size = 1024;
  int64_t num_layers = 9;
  int64_t model_dim = 512;
  int64_t num_heads = 8;
  int64_t num_kv_heads = 4;
  int64_t head_dim = 64;
  int64_t mlp_hidden = 1024;
  bool tie_embeddings = true;
  float rope_base = 10000.0f;
  float logit_softcap = 30.0f;
  float qk_gain_init = 1.5f;
  float tied_embed_init_std = 0.005f;

  int64_t num_encoder_layers() const { return num_layers / 2; }
  int64_t num_decoder_layers() const { return num_layers - num_encoder_layers(); }
  int64_t num_skip_weights() const {
    return num_encoder_layers() < num_decoder_layers() ? num_encoder_layers() : num_decoder_layers();
  }
  int64_t kv_dim() const { return num_kv_heads * head_dim; }

  // Throws naming the setting when shapes do not divide (heads, KV groups, even head_dim, ...).
  static GptShape from_config(const Config& config);
};

}  // namespace dg
