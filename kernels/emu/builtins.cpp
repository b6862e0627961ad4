#include "emu/builtins.h"

namespace dg::emu::detail {
uint3 g_thread_idx{};
uint3 g_block_idx{};
dim3 g_block_dim{};
dim3 g_grid_dim{};
}  // namespace dg::emu::detail

const uint3& threadIdx = dg::emu::detail::g_thread_idx;
const uint3& blockIdx = dg::emu::detail::g_block_idx;
const dim3& blockDim = dg::emu::detail::g_block_dim;
const dim3& gridDim = dg::emu::detail::g_grid_dim;
