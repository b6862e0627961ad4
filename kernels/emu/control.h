// Knobs of the CUDA emulator, for tests and for debugging a kernel by hand.
#pragma once

#include <cstdint>

namespace dg::emu {

// The schedule seed. 0 runs ready fibers round robin and blocks in order; any other value draws
// the next fiber at random (between sync points) and shuffles the block order, so a missing
// __syncthreads gives a wrong result instead of a lucky one. Default: $DARTGOLF_EMU_SEED, else 1.
uint64_t schedule_seed();
void set_schedule_seed(uint64_t seed);

class ScopedScheduleSeed {
 public:
  explicit ScopedScheduleSeed(uint64_t seed) : previous_(schedule_seed()) { set_schedule_seed(seed); }
  ~ScopedScheduleSeed() { set_schedule_seed(previous_); }
  ScopedScheduleSeed(const ScopedScheduleSeed&) = delete;
  ScopedScheduleSeed& operator=(const ScopedScheduleSeed&) = delete;

 private:
  uint64_t previous_;
};

// Bounds-check mode: each device allocation made while it is on ends at a guard page, so a kernel
// reading or writing past the end stops with a report naming the allocation, kernel, block and
// thread. Default: $DARTGOLF_EMU_CHECK_BOUNDS=1, else off (allocations then take less memory).
bool bounds_check();
void set_bounds_check(bool on);

class ScopedBoundsCheck {
 public:
  explicit ScopedBoundsCheck(bool on) : previous_(bounds_check()) { set_bounds_check(on); }
  ~ScopedBoundsCheck() { set_bounds_check(previous_); }
  ScopedBoundsCheck(const ScopedBoundsCheck&) = delete;
  ScopedBoundsCheck& operator=(const ScopedBoundsCheck&) = delete;

 private:
  bool previous_;
};

}  // namespace dg::emu
