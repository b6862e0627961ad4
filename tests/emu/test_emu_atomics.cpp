// Every atomic of the dialect under the emulator (plain read-modify-writes between sync points):
// the totals of 1,024 threads in 4 blocks, under every schedule.
#include <gtest/gtest.h>

#include "atomics.h"
#include "emu_test_util.h"

namespace {

TEST(EmuAtomics, TotalsOfEveryOperation) {
  for (uint64_t seed : dg::test::schedule_seeds()) {
    dg::emu::ScopedScheduleSeed scoped(seed);
    const dg::test::AtomicTotals r = dg::test::run_atomics();
    EXPECT_EQ(r.add, 1023 * 1024 / 2);
    EXPECT_EQ(r.sub, -1023 * 1024 / 2);
    EXPECT_EQ(r.min, 5000 - 1023);
    EXPECT_EQ(r.max, 3 * 1023);
    EXPECT_EQ(r.bit_or, 0xFFFFFFFFu);
    EXPECT_EQ(r.bit_xor, 0u);  // 0 ^ 1 ^ ... ^ 1023
    EXPECT_EQ(r.inc_wrapped, 1024u % 100u);
    EXPECT_EQ(r.dec_wrapped, 99u - (1024u - 1u) % 100u);  // 0 -> 99, then down
    EXPECT_EQ(r.add_u64, 1024ull << 33);
    double f32 = 0;
    for (int t = 0; t < 1024; ++t) f32 += t % 7;
    EXPECT_EQ(r.add_f32, static_cast<float>(f32));
    EXPECT_EQ(r.add_f64, 0.5 * 1023 * 1024 / 2);
    EXPECT_GE(r.exch_last, 0);
    EXPECT_LT(r.exch_last, 1024);
    EXPECT_EQ(r.cas_increments, 1024);
  }
}

}  // namespace
