// The device intrinsics of the dialect applied by one thread per input, for the emulator test.
#pragma once

#include <cstdint>
#include <vector>

namespace dg::test {

struct IntrinsicResults {
  std::vector<float> rsqrt, exp, log, fdivide, saturate, fmin, bf16_round_trip, bf16_sum;
  std::vector<int> float2int_rn, popc, clz, ffs, imax;
  std::vector<uint32_t> brev, float_bits;
};

IntrinsicResults run_intrinsics(const std::vector<float>& x);

}  // namespace dg::test
