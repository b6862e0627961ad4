// Checks shared by the CUDA op tests of tests/backend_ops/ (beyond backend_pair.h and
// schedule_seeds.h): tolerances derived from fp32 rounding, the same argument error from both
// backends, and an op's outputs bit-identical under every schedule.
#pragma once

#include <gtest/gtest.h>

#include <cfloat>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "backend_pair.h"
#include "schedule_seeds.h"
#include "test_support.h"

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

// Bit-identical outputs under every schedule (schedule_seeds.h), each run of `op` on the CUDA
// backend starting from the contents `outputs` hold on entry (backward ops add into them); the
// starting contents are restored at the end.
inline ::testing::AssertionResult deterministic(BackendPair& pair, const std::vector<TensorPair>& outputs,
                                                const std::function<void(Backend&)>& op) {
  std::vector<std::vector<float>> start;
  for (const TensorPair& t : outputs) start.push_back(pair.cuda_values(t));
  const auto restore = [&] {
    for (size_t i = 0; i < outputs.size(); ++i) pair.cuda().copy_from_host(outputs[i].cuda, start[i].data());
  };
  const ::testing::AssertionResult result = same_bits_every_schedule([&] {
    restore();
    op(pair.cuda());
    pair.cuda().synchronize();
    std::vector<float> all;
    for (const TensorPair& t : outputs) {
      const std::vector<float> values = pair.cuda_values(t);
      all.insert(all.end(), values.begin(), values.end());
    }
    return all;
  });
  restore();
  return result;
}

}  // namespace dg::test
