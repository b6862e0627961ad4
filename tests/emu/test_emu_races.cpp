// The planted missing __syncthreads: round-robin order misses it, a shuffled schedule catches it.
#include <gtest/gtest.h>

#include <cmath>

#include "emu_test_util.h"
#include "races.h"

namespace {

std::vector<float> ramp(int n) {
  std::vector<float> in(n);
  for (int i = 0; i < n; ++i) in[i] = static_cast<float>(i * i % 17);
  return in;
}

bool correct(const std::vector<float>& in, const std::vector<float>& out) {
  for (size_t i = 0; i < in.size(); ++i)
    if (out[i] != in[i] - (i > 0 ? in[i - 1] : 0.0f)) return false;
  return true;
}

int nan_count(const std::vector<float>& out) {
  int count = 0;
  for (float v : out) count += std::isnan(v) ? 1 : 0;
  return count;
}

TEST(EmuRaces, WithTheBarrierEveryScheduleIsCorrect) {
  const std::vector<float> in = ramp(1024);
  EXPECT_TRUE(correct(in, dg::test::same_for_every_seed([&] { return dg::test::neighbour_difference(in, true); })));
}

TEST(EmuRaces, RoundRobinMissesTheMissingBarrier) {
  // Thread i reads tile[i - 1], written by thread i - 1: round robin runs every thread to the end
  // before the next starts, so the value is always there. A lucky schedule, as on many GPUs.
  dg::emu::ScopedScheduleSeed round_robin(0);
  const std::vector<float> in = ramp(1024);
  EXPECT_TRUE(correct(in, dg::test::neighbour_difference(in, false)));
}

TEST(EmuRaces, ShuffledSchedulesCatchTheMissingBarrier) {
  const std::vector<float> in = ramp(1024);
  for (uint64_t seed : {1, 2, 3, 12345}) {
    dg::emu::ScopedScheduleSeed shuffled(seed);
    const std::vector<float> out = dg::test::neighbour_difference(in, false);
    EXPECT_FALSE(correct(in, out)) << "seed " << seed;
    // What went wrong is visible: the reads of unwritten shared memory are NaN (poison).
    EXPECT_GT(nan_count(out), 100) << "seed " << seed;
  }
}

}  // namespace
