// Kernels that can never finish, for the emulator's deadlock reports (never run them on a GPU).
#pragma once

namespace dg::test {

// Lanes 0-15 of every warp wait at __syncthreads while lanes 16-31 wait at __syncwarp() for them.
void run_split_barrier(int threads);
// Lanes 16-31 return; lanes 0-15 then call __shfl_sync with the full mask, naming the exited lanes.
void run_shuffle_with_exited_lanes();
// Lane 0 calls __shfl_sync with mask 0x3 while lane 1 calls it with the full mask.
void run_mismatched_masks();

}  // namespace dg::test
