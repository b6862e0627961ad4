// An emulated kernel launch: the configuration is checked against the sm_90 limits (and refused
// with a dg::Error saying which limit), then every block runs to completion on the calling OS
// thread, one at a time, before launch_kernel returns. Launches from several host threads are
// serialized: static __shared__ variables exist once per process.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "emu/block_runner.h"

namespace dg::emu {

void launch_kernel(const KernelCall& call, const void* kernel, cudaStream_t stream);

// What cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes) allowed;
// the default (48 KiB) for a kernel that never set it.
void set_max_dynamic_shared(const void* kernel, size_t bytes);
size_t max_dynamic_shared(const void* kernel);

}  // namespace dg::emu
