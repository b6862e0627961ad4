// The warp collectives and barriers of the emulated dialect (emu/device.h).
#include <bit>
#include <cstdint>

#include "core/error.h"
#include "emu/block_runner.h"
#include "emu/device.h"

namespace dg::emu {
namespace {

struct ShuffleInput {
  uint64_t bits;
  uint32_t source;  // the lane this lane reads from
};

void complete_shuffle(const void* const* inputs, void* const* outputs, uint32_t mask) {
  for (uint32_t lanes = mask; lanes != 0; lanes &= lanes - 1) {
    const uint32_t l = std::countr_zero(lanes);
    const uint32_t source = static_cast<const ShuffleInput*>(inputs[l])->source;
    // Reading a lane outside the mask is undefined in CUDA; the emulator returns poison bytes.
    *static_cast<uint64_t*>(outputs[l]) =
        (mask >> source & 1u) ? static_cast<const ShuffleInput*>(inputs[source])->bits : ~uint64_t{0};
  }
}

void complete_vote(const void* const* inputs, void* const* outputs, uint32_t mask) {
  uint32_t ballot = 0;
  for (uint32_t lanes = mask; lanes != 0; lanes &= lanes - 1) {
    const uint32_t l = std::countr_zero(lanes);
    if (*static_cast<const bool*>(inputs[l])) ballot |= 1u << l;
  }
  for (uint32_t lanes = mask; lanes != 0; lanes &= lanes - 1) *static_cast<uint32_t*>(outputs[std::countr_zero(lanes)]) = ballot;
}

void complete_nothing(const void* const*, void* const*, uint32_t) {}

const WarpOp kShuffleOps[4] = {{"__shfl_sync", complete_shuffle},
                               {"__shfl_up_sync", complete_shuffle},
                               {"__shfl_down_sync", complete_shuffle},
                               {"__shfl_xor_sync", complete_shuffle}};
const WarpOp kVoteOps[3] = {{"__ballot_sync", complete_vote}, {"__any_sync", complete_vote}, {"__all_sync", complete_vote}};
const WarpOp kSyncWarp{"__syncwarp", complete_nothing};

// The source lane of shfl.sync, as the PTX ISA defines it: c = ((32 - width) << 8) | clamp, with
// clamp 0 for .up and 31 otherwise; segmask = c[12:8]; an out-of-segment source reads its own lane.
uint32_t shuffle_source(uint32_t lane, ShuffleMode mode, int lane_or_delta, int width) {
  const uint32_t b = static_cast<uint32_t>(lane_or_delta) & 31u;
  const uint32_t segmask = static_cast<uint32_t>(32 - width);
  const uint32_t clamp = mode == ShuffleMode::Up ? 0u : 31u;
  const uint32_t max_lane = (lane & segmask) | (clamp & ~segmask);
  const uint32_t min_lane = lane & segmask;
  int64_t j = lane;
  bool valid = false;
  switch (mode) {
    case ShuffleMode::Up:
      j = static_cast<int64_t>(lane) - b;
      valid = j >= static_cast<int64_t>(max_lane);
      break;
    case ShuffleMode::Down:
      j = lane + b;
      valid = j <= max_lane;
      break;
    case ShuffleMode::Xor:
      j = lane ^ b;
      valid = j <= max_lane;
      break;
    case ShuffleMode::Idx:
      j = min_lane | (b & ~segmask);
      valid = j <= max_lane;
      break;
  }
  return valid ? static_cast<uint32_t>(j) : lane;
}

}  // namespace

uint64_t warp_shuffle(uint32_t mask, uint64_t bits, ShuffleMode mode, int lane_or_delta, int width) {
  const WarpOp& op = kShuffleOps[static_cast<int>(mode)];
  EmuThread& th = this_thread(op.name);
  BlockRunner& block = this_block(op.name);
  if (width < 1 || width > 32 || !std::has_single_bit(static_cast<unsigned>(width)))
    DG_THROW("CUDA emulator: " << block.where(th) << " calls " << op.name << " with width " << width
                               << "; the width must be a power of two from 1 to 32");
  ShuffleInput input{bits, shuffle_source(th.lane, mode, lane_or_delta, width)};
  uint64_t output = 0;
  block.warp_collective(op, mask, &input, &output);
  return output;
}

uint32_t warp_vote(Vote kind, uint32_t mask, bool predicate) {
  const WarpOp& op = kVoteOps[static_cast<int>(kind)];
  this_thread(op.name);
  uint32_t ballot = 0;
  this_block(op.name).warp_collective(op, mask, &predicate, &ballot);
  return ballot;
}

void warp_sync(uint32_t mask) {
  this_thread("__syncwarp");
  this_block("__syncwarp").warp_collective(kSyncWarp, mask, nullptr, nullptr);
}

int block_barrier(BarrierKind kind, int predicate) {
  this_thread("__syncthreads");
  return this_block("__syncthreads").barrier(kind, predicate);
}

void trap() {
  EmuThread& th = this_thread("__trap");
  DG_THROW("CUDA emulator: " << this_block("__trap").where(th) << " called __trap()");
}

}  // namespace dg::emu
