// The pluggable-block registry: which block types exist, the sites each can serve, their options
// and defaults, and the parser of the `blocks` setting (a JSON array of {type, site, options...}).
// Every mistake in the setting is an error naming the entry and listing what is valid
// (docs/blocks.md, "DART use sites").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/blocks/daam.h"
#include "model/blocks/head_gate.h"
#include "model/blocks/tau_fusion.h"

namespace dg::blocks {

enum class BlockType { TauFusion, Daam, HeadGate };
enum class BlockSite { LoopInput, LoopOutput, AttnOutput, MlpInput, BlockOutput };

// One entry of `blocks`, with every option of its type resolved (defaults filled in).
struct BlockSpec {
  BlockType type = BlockType::TauFusion;
  BlockSite site = BlockSite::LoopInput;
  // tau_fusion
  int64_t hidden = 64;      // controller MLP width h
  int64_t latent = 0;       // k (0: fuse in d itself)
  double init_logit = 0.0;  // b: every τ starts at σ(b)
  bool skip_stream = true;  // loop_input: the U-Net skip as a third stream
  // daam
  int64_t groups = 0;       // g (resolved: the model's num_heads when the entry leaves it out)
  int64_t gaussians = 1;    // N
  bool residual = false;    // out = x + x ⊙ gate
  double eps = 1e-5;
  double init_scale = 2.0;
  double init_offset_std = 0.5;
  // head_gate
  bool identity_init = true;

  // "tau_fusion@loop_input": how logs and errors name the entry.
  std::string label() const;
};

const char* block_type_name(BlockType type);
const char* block_site_name(BlockSite site);
// Sites serving one block per forward of the whole model (not one per unique block).
bool is_model_level(BlockSite site);

// Parses the `blocks` setting. `default_groups` fills DAAM's groups when an entry leaves it out.
// Throws dg::Error naming "blocks[i]" for: a non-object entry, a missing or unknown type or site
// (listing the valid ones), a type at a site it does not serve (listing its sites), an unknown
// option (listing the type's options), a value of the wrong kind or out of range, and the same
// type twice at one site.
std::vector<BlockSpec> parse_block_specs(const nlohmann::json& blocks, int64_t default_groups);

// The module configs an entry gives at a site: `dim` the stream width, `init_mix` the mix τ-fusion
// reproduces at step 0.
TauFusionConfig tau_fusion_config(const BlockSpec& spec, int64_t streams, int64_t dim, std::vector<double> init_mix);
DaamConfig daam_config(const BlockSpec& spec, int64_t dim);
HeadGateConfig head_gate_config(const BlockSpec& spec, int64_t dim, int64_t heads, int64_t head_dim);

}  // namespace dg::blocks
