// CUDA's built-in variables under the emulator. threadIdx & co. are real globals (references to
// the values below), rewritten by the scheduler whenever it switches fibers: a thread always reads
// its own index, and gdb can print them (`p threadIdx`).
#pragma once

#include <cuda_runtime.h>

namespace dg::emu::detail {
extern uint3 g_thread_idx;
extern uint3 g_block_idx;
extern dim3 g_block_dim;
extern dim3 g_grid_dim;
}  // namespace dg::emu::detail

extern const uint3& threadIdx;
extern const uint3& blockIdx;
extern const dim3& blockDim;
extern const dim3& gridDim;
inline constexpr int warpSize = 32;
