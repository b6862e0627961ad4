// A barrier-heavy kernel for measuring the emulator: every round each thread writes shared
// memory, waits at __syncthreads, reads its neighbour's slot and waits again (2 barriers a round).
#pragma once

namespace dg::test {

// Returns a checksum of the result (so the work is not optimized away).
float run_barrier_rounds(int blocks, int threads, int rounds);

}  // namespace dg::test
