// Determinism of a CUDA op in the cross-backend tests: the op's output must not depend on how its
// threads and blocks are scheduled. Under the emulator the op runs under schedule seed 0 (round
// robin) and 12345 (shuffled threads and blocks, docs/cuda-emulator.md); on a GPU it runs twice.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#ifdef DARTGOLF_CUDA_EMULATED
#include "emu/control.h"
#endif

namespace dg::test {

// `run` restores the op's inputs (backward ops add into their outputs), runs the CUDA op and
// returns what it wrote; every run must give the same bits.
inline ::testing::AssertionResult same_bits_every_schedule(const std::function<std::vector<float>()>& run) {
  std::vector<std::vector<float>> results;
#ifdef DARTGOLF_CUDA_EMULATED
  for (uint64_t seed : {uint64_t{0}, uint64_t{12345}}) {
    emu::ScopedScheduleSeed scoped(seed);
    results.push_back(run());
  }
#else
  results.push_back(run());
  results.push_back(run());
#endif
  const std::vector<float>& first = results.front();
  for (size_t r = 1; r < results.size(); ++r) {
    if (results[r].size() != first.size()) return ::testing::AssertionFailure() << "run " << r << " changed the size";
    for (size_t i = 0; i < first.size(); ++i)
      if (std::memcmp(&first[i], &results[r][i], sizeof(float)) != 0)
        return ::testing::AssertionFailure() << "run " << r << " differs at element " << i << ": " << first[i]
                                             << " then " << results[r][i];
  }
  return ::testing::AssertionSuccess();
}

}  // namespace dg::test
