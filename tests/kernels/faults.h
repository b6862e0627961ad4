// Kernels that fault, for the emulator's fault reports (death tests; never run them on a GPU).
#pragma once

namespace dg::test {

// Each of `n` threads reads in[i + 1] from an n-float allocation: the last reads one past the end.
void run_read_past_end(int n);
// One thread writes one float past the end of 1024 bytes of dynamic shared memory.
void run_dynamic_shared_overflow();
// One thread recurses (1 KiB per frame) until its 64 KiB fiber stack overflows.
void run_stack_overflow();

}  // namespace dg::test
