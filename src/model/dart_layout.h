// DART's parameters in one flat buffer, named and shaped exactly as the PR's RLM state_dict for
// B = 1 (memory, skip_weights, tok_emb.weight, block.*), with `blocks.{b}.` prefixes for B > 1.
// Per-loop tensors have L leading rows (resid_mix [2, L, d]); the optimizer groups are the PR's.
#pragma once

#include <string>

#include "model/dart_shape.h"
#include "model/param_layout.h"

namespace dg {

ParamLayout build_dart_layout(const DartShape& shape);

// "block." for the PR's single block, "blocks.{b}." when there are several.
std::string dart_block_prefix(const DartShape& shape, int64_t block);

}  // namespace dg
