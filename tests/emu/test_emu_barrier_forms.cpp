// The __syncthreads forms that vote, and a barrier after part of the block has returned.
#include <gtest/gtest.h>

#include "barrier_forms.h"
#include "core/rng.h"
#include "emu_test_util.h"

namespace {

TEST(EmuBarrierForms, CountAndAndOr) {
  dg::Rng rng(21);
  for (int threads : {1, 37, 256}) {
    for (int trial = 0; trial < 3; ++trial) {
      std::vector<int> predicate(threads);
      for (int& p : predicate) p = trial == 0 ? 5 : (trial == 1 ? 0 : static_cast<int>(rng.below(2)));
      int count = 0;
      for (int p : predicate) count += p != 0;
      const std::vector<int> votes = dg::test::same_for_every_seed([&] {
        const dg::test::BarrierVotes v = dg::test::barrier_votes(predicate);
        std::vector<int> all = v.count;
        all.insert(all.end(), v.all.begin(), v.all.end());
        all.insert(all.end(), v.any.begin(), v.any.end());
        return all;
      });
      const auto part = [&](int i) { return std::vector<int>(votes.begin() + i * threads, votes.begin() + (i + 1) * threads); };
      EXPECT_EQ(part(0), std::vector<int>(threads, count)) << threads << " threads, trial " << trial;
      EXPECT_EQ(part(1), std::vector<int>(threads, count == threads ? 1 : 0)) << threads << " threads, trial " << trial;
      EXPECT_EQ(part(2), std::vector<int>(threads, count > 0 ? 1 : 0)) << threads << " threads, trial " << trial;
    }
  }
}

TEST(EmuBarrierForms, ExitedThreadsDoNotHoldUpTheBarrier) {
  std::vector<int> in(100);
  for (int i = 0; i < 100; ++i) in[i] = 3 * i + 1;
  const std::vector<int> out = dg::test::same_for_every_seed([&] { return dg::test::rotate_after_early_exit(in, 128); });
  for (int i = 0; i < 100; ++i) EXPECT_EQ(out[i], in[(i + 1) % 100]) << "thread " << i;
}

}  // namespace
