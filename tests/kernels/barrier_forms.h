// __syncthreads_count/_and/_or, and __syncthreads after some threads of the block have returned.
#pragma once

#include <vector>

namespace dg::test {

struct BarrierVotes {
  std::vector<int> count, all, any;  // what each thread of the block got back
};
// One block of predicate.size() threads, thread i voting predicate[i].
BarrierVotes barrier_votes(const std::vector<int>& predicate);

// Threads i >= n return at once; the others exchange values through shared memory across a
// __syncthreads: out[i] = in[(i + 1) % n] for i < n.
std::vector<int> rotate_after_early_exit(const std::vector<int>& in, int threads);

}  // namespace dg::test
