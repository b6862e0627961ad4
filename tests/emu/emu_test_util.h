// Helpers of the emulator tests: running a kernel under several schedule seeds (and error_of from
// test_support.h for the emulator's error messages).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "emu/control.h"
#include "test_support.h"

namespace dg::test {

// Round robin (0) and three shuffled schedules.
inline const std::vector<uint64_t>& schedule_seeds() {
  static const std::vector<uint64_t> seeds{0, 1, 2, 12345};
  return seeds;
}

template <class T>
bool bits_equal(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// Runs `run` under every schedule seed; race-free kernels must give bit-identical results.
// Returns the round-robin result.
template <class Run>
auto same_for_every_seed(Run run) {
  decltype(run()) first;
  for (uint64_t seed : schedule_seeds()) {
    emu::ScopedScheduleSeed scoped(seed);
    auto result = run();
    if (seed == schedule_seeds().front())
      first = result;
    else
      EXPECT_TRUE(bits_equal(first, result)) << "seed " << seed << " changed the output of a race-free kernel";
  }
  return first;
}

}  // namespace dg::test
