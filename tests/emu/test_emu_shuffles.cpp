// Every warp shuffle form, width and a set of partial masks, the votes and __syncwarp, run by the
// emulator against the CUDA programming guide's definitions (written here independently of the
// emulator, which follows the PTX ISA's shfl.sync formula).
#include <gtest/gtest.h>

#include <cmath>

#include "core/rng.h"
#include "emu_test_util.h"
#include "shuffles.h"

namespace {

using dg::test::ShuffleForm;

// The lane whose value `lane` receives, per the CUDA C++ Programming Guide: lanes are split into
// segments of `width`; _sync reads srcLane modulo width within the segment; _up reads lane - delta
// unless that leaves the segment (then its own value); _down likewise with lane + delta; _xor reads
// lane ^ laneMask unless that lies in a later segment.
int guide_source(ShuffleForm form, int lane, int arg, int width) {
  const int segment = lane / width * width;
  switch (form) {
    case ShuffleForm::Idx: return segment + arg % width;
    case ShuffleForm::Up: return lane % width >= arg ? lane - arg : lane;
    case ShuffleForm::Down: return lane % width + arg < width ? lane + arg : lane;
    case ShuffleForm::Xor: return (lane ^ arg) < segment + width ? (lane ^ arg) : lane;
  }
  return -1;
}

const char* form_name(ShuffleForm form) {
  switch (form) {
    case ShuffleForm::Idx: return "__shfl_sync";
    case ShuffleForm::Up: return "__shfl_up_sync";
    case ShuffleForm::Down: return "__shfl_down_sync";
    case ShuffleForm::Xor: return "__shfl_xor_sync";
  }
  return "";
}

// Checks every lane of the mask whose source is in the mask; lanes outside it must be untouched.
void expect_shuffle(ShuffleForm form, uint32_t mask, int arg, int width) {
  const dg::test::ShuffleResults r = dg::test::run_shuffle(form, mask, arg, width);
  for (int lane = 0; lane < 32; ++lane) {
    const std::string where = std::string(form_name(form)) + " mask " + std::to_string(mask) + " arg " +
                              std::to_string(arg) + " width " + std::to_string(width) + " lane " + std::to_string(lane);
    if (!(mask >> lane & 1u)) {
      EXPECT_EQ(r.i32[lane], -1) << where;
      continue;
    }
    const int src = guide_source(form, lane, arg, width);
    if (!(mask >> src & 1u)) continue;  // undefined in CUDA (checked separately below)
    EXPECT_EQ(r.i32[lane], 1000 + src) << where;
    EXPECT_EQ(r.i64[lane], (int64_t{1000 + src} << 33) + src) << where;
    EXPECT_EQ(r.f32[lane], 1000.25f + static_cast<float>(src)) << where;
  }
}

constexpr ShuffleForm kForms[] = {ShuffleForm::Idx, ShuffleForm::Up, ShuffleForm::Down, ShuffleForm::Xor};

TEST(EmuShuffles, EveryFormAndWidthWithTheFullMask) {
  for (ShuffleForm form : kForms)
    for (int width : {32, 16, 8, 4, 2, 1})
      for (int arg : {0, 1, 2, 3, 5, 8, 13, 16, 31}) expect_shuffle(form, 0xffffffffu, arg, width);
}

TEST(EmuShuffles, PartialMasks) {
  for (ShuffleForm form : kForms)
    for (uint32_t mask : {0x0000ffffu, 0xffff0000u, 0xaaaaaaaau, 0x0f0f0f0fu, 0x80000001u, 0x00000001u})
      for (int width : {32, 16, 8})
        for (int arg : {0, 1, 2, 4, 7, 16}) expect_shuffle(form, mask, arg, width);
}

TEST(EmuShuffles, SameResultsUnderEverySchedule) {
  for (ShuffleForm form : kForms)
    dg::test::same_for_every_seed([form] { return dg::test::run_shuffle(form, 0x7ffffffeu, 3, 16).i64; });
}

TEST(EmuShuffles, ReadingALaneOutsideTheMaskGivesPoison) {
  // Undefined in CUDA; the emulator hands back 0xFF bytes (a NaN) so the bug shows.
  const dg::test::ShuffleResults r = dg::test::run_shuffle(ShuffleForm::Idx, 0x0000ffffu, 20, 32);
  for (int lane = 0; lane < 16; ++lane) EXPECT_TRUE(std::isnan(r.f32[lane])) << "lane " << lane;
}

TEST(EmuShuffles, WidthMustBeAPowerOfTwoUpTo32) {
  for (int width : {3, 0, 64}) {
    const std::string message = dg::test::error_of([width] { dg::test::run_shuffle(ShuffleForm::Xor, ~0u, 1, width); });
    EXPECT_NE(message.find("width " + std::to_string(width)), std::string::npos) << message;
    EXPECT_NE(message.find("power of two"), std::string::npos) << message;
  }
}

TEST(EmuVotes, BallotAnyAllOverFullAndPartialMasks) {
  dg::Rng rng(11);
  for (uint32_t mask : {0xffffffffu, 0x0000ffffu, 0x55555555u, 0x00000100u}) {
    for (int trial = 0; trial < 4; ++trial) {
      std::vector<int> predicate(32);
      for (int& p : predicate) p = trial == 0 ? 1 : (trial == 1 ? 0 : static_cast<int>(rng.below(3)));
      uint32_t expected = 0;
      for (int lane = 0; lane < 32; ++lane)
        if ((mask >> lane & 1u) && predicate[lane] != 0) expected |= 1u << lane;
      const dg::test::VoteResults r = dg::test::run_votes(mask, predicate);
      for (int lane = 0; lane < 32; ++lane) {
        if (!(mask >> lane & 1u)) continue;
        EXPECT_EQ(r.ballot[lane], expected) << "mask " << mask << " lane " << lane;
        EXPECT_EQ(r.any[lane], expected != 0 ? 1 : 0) << "mask " << mask << " lane " << lane;
        EXPECT_EQ(r.all[lane], expected == mask ? 1 : 0) << "mask " << mask << " lane " << lane;
      }
    }
  }
}

TEST(EmuSyncwarp, HalfWarpsExchangeThroughSharedMemory) {
  std::vector<int> values(32);
  for (int lane = 0; lane < 32; ++lane) values[lane] = 7 * lane + 3;
  const std::vector<int> out =
      dg::test::same_for_every_seed([&] { return dg::test::run_half_warp_exchange(values); });
  for (int lane = 0; lane < 32; ++lane) EXPECT_EQ(out[lane], values[lane ^ 1]) << "lane " << lane;
}

}  // namespace
