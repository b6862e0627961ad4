// A block reduction (warp shuffles, then static __shared__ partial sums): one sum per block.
#pragma once

#include <vector>

namespace dg::test {

// Block b sums values[b·per_block, (b+1)·per_block) (the last block what is left); threads is 64, 256 or 1024.
std::vector<float> block_sums(const std::vector<float>& values, int per_block, int threads);

}  // namespace dg::test
