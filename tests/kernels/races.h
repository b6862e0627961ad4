// A left-neighbour difference through shared memory, out[i] = in[i] - in[i-1] (out[0] = in[0]),
// written with the __syncthreads it needs and without it: the planted race of the emulator tests.
#pragma once

#include <vector>

namespace dg::test {

// One block of values.size() threads (at most 1024).
std::vector<float> neighbour_difference(const std::vector<float>& in, bool with_barrier);

}  // namespace dg::test
