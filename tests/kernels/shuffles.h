// One warp exercising a warp collective: lanes in `mask` take part, the others sit it out (they
// keep -1 / 0 in the outputs). Lane l's own value is 1000 + l.
#pragma once

#include <cstdint>
#include <vector>

namespace dg::test {

enum class ShuffleForm { Idx, Up, Down, Xor };

// __shfl*_sync(mask, 1000 + lane, arg, width) per lane, as int32, int64 (the value · 2^33 + lane)
// and float (the value + 0.25): all three must agree.
struct ShuffleResults {
  std::vector<int32_t> i32;
  std::vector<int64_t> i64;
  std::vector<float> f32;
};
ShuffleResults run_shuffle(ShuffleForm form, uint32_t mask, int arg, int width);

// __ballot_sync, __any_sync and __all_sync of predicate[lane] among the lanes in mask.
struct VoteResults {
  std::vector<uint32_t> ballot;
  std::vector<int> any, all;
};
VoteResults run_votes(uint32_t mask, const std::vector<int>& predicate);

// Lanes 0-15 and 16-31 each swap values through shared memory, separated by __syncwarp with
// the half-warp's mask: out[l] = value written by lane l ^ 1 of the same half.
std::vector<int> run_half_warp_exchange(const std::vector<int>& values);

}  // namespace dg::test
