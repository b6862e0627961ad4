// Checks shared by the CUDA op tests of tests/backend_ops/ (beyond backend_pair.h): tolerances
// derived from fp32 rounding, the same argument error from both backends, and an op giving
// bit-identical results under different emulator schedules (on a GPU: run after run).
#pragma once

#include <gtest/gtest.h>

#include <cfloat>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "backend_pair.h"
#include "test_support.h"
#ifdef DARTGOLF_CUDA_EMULATED
#include "emu/control.h"
#endif

namespace dg::test {

// One ulp of a float in [1, 2): 2^-23, twice the unit roundoff u = 2^-24.
inline constexpr double kEps = FLT_EPSILON;

// Two fp32 sums of the same n terms in different orders (the CPU's sequential order, the GPU's
// chunks and trees): each is within (n − 1)·u·Σ|t| of the exact sum (recursive summation's bound,
// Higham §4.2), so they differ by at most n·ε·Σ|t|; one more ε·Σ|t| covers terms that are
// themselves products rounded differently (an fma on the GPU). `abs_sum` bounds Σ|t|.
inline double sum_tolerance(int64_t terms, double abs_sum) { return static_cast<double>(terms + 1) * kEps * abs_sum; }

// The message of the error each backend throws for the same call: both must throw, the same text.
inline void expect_same_error(BackendPair& pair, const std::function<void(Backend&, bool)>& op) {
  const std::string cpu = error_of([&] { op(pair.cpu(), false); });
  const std::string cuda = error_of([&] { op(pair.cuda(), true); });
  EXPECT_FALSE(cpu.empty());
  EXPECT_EQ(cpu, cuda);
}

// The schedules a determinism check runs: round robin and a shuffled one under the emulator
// (kernels/emu/control.h); on a GPU the same op twice.
inline const std::vector<uint64_t>& determinism_seeds() {
  static const std::vector<uint64_t> seeds{0, 12345};
  return seeds;
}

// Runs `op` on the CUDA backend once per schedule, each time from the contents `outputs` hold on
// entry, and demands bit-identical outputs; the starting contents are restored at the end.
inline void expect_deterministic(BackendPair& pair, const std::vector<TensorPair>& outputs,
                                 const std::function<void(Backend&)>& op) {
  std::vector<std::vector<float>> start, first;
  for (const TensorPair& t : outputs) start.push_back(pair.cuda_values(t));
  const auto restore = [&] {
    for (size_t i = 0; i < outputs.size(); ++i) pair.cuda().copy_from_host(outputs[i].cuda, start[i].data());
  };
  for (uint64_t seed : determinism_seeds()) {
    restore();
#ifdef DARTGOLF_CUDA_EMULATED
    emu::ScopedScheduleSeed scoped(seed);
#endif
    op(pair.cuda());
    pair.cuda().synchronize();
    std::vector<std::vector<float>> got;
    for (const TensorPair& t : outputs) got.push_back(pair.cuda_values(t));
    if (first.empty()) {
      first = std::move(got);
      continue;
    }
    for (size_t i = 0; i < outputs.size(); ++i)
      EXPECT_EQ(std::memcmp(first[i].data(), got[i].data(), first[i].size() * sizeof(float)), 0)
          << "output " << i << " changed with schedule seed " << seed;
  }
  restore();
}

}  // namespace dg::test
