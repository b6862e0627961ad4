// What one use of a pluggable block computed in the last forward, on the token rows only (memory
// rows are dropped): the values interpretability reads — τ-fusion's τ, DAAM's density per group,
// the head gate per head. Training logs mean τ from these; `dartgolf inspect --blocks` averages
// them over validation tokens (docs/blocks.md, "DART use sites").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dg {

struct BlockObservation {
  std::string type;   // tau_fusion, daam, head_gate
  std::string site;   // loop_input, loop_output, attn_output, mlp_input, block_output
  std::string name;   // the block's tensor prefix without its final dot: "block.mlp_input.daam"
  int64_t block = -1; // unique block b; -1 for a model-level block (loop_output)
  int64_t loop = 0;   // the loop of this use (loop_output: the last loop the forward ran)
  // One name per channel: τ's streams ("x", "x0", "skip" / "loop0".."loopN"), DAAM's groups
  // ("group0"..), the head gate's heads ("head0"..).
  std::vector<std::string> channels;
  int64_t tokens = 0;  // token rows observed (batch rows × seq_len)
  int64_t width = 0;   // values per channel and token: τ's k; 1 for DAAM and the head gate
  std::vector<float> values;  // [channels, tokens, width], row-major
};

}  // namespace dg
