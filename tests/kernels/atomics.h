// Every atomic of the dialect applied by 256 threads of 4 blocks to shared counters.
#pragma once

#include <cstdint>

namespace dg::test {

struct AtomicTotals {
  int add, sub, min, max, cas_increments;
  unsigned bit_or, bit_xor, inc_wrapped, dec_wrapped;
  unsigned long long add_u64;
  float add_f32;   // sums of small integers: exact in any order
  double add_f64;
  int exch_last;   // whichever thread exchanged last
};

AtomicTotals run_atomics();

}  // namespace dg::test
