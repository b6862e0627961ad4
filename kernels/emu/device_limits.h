// The device the emulator pretends to be: an sm_90 (H100) as far as launch limits go. Launches
// are checked against these numbers and refused, as the hardware would refuse them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dg::emu {

struct DeviceLimits {
  uint32_t max_threads_per_block = 1024;
  uint32_t max_block_dim[3] = {1024, 1024, 64};
  uint32_t max_grid_dim[3] = {2147483647u, 65535u, 65535u};
  size_t default_shared_per_block = 48 * 1024;   // dynamic shared memory without the opt-in attribute
  size_t max_shared_per_block_optin = 227 * 1024;  // sm_90: 232,448 bytes with cudaFuncAttributeMaxDynamicSharedMemorySize
  size_t shared_per_multiprocessor = 228 * 1024;
  int compute_major = 9;
  int compute_minor = 0;
  int warp_size = 32;
};

inline constexpr DeviceLimits kEmulatedDevice{};

}  // namespace dg::emu
