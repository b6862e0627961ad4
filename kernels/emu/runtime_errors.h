// Errors of the emulated CUDA runtime API. A failing call returns its cudaError_t as the real
// runtime does (and cudaGetLastError reports it); the emulator also keeps the reason, and
// cudaGetErrorString of that code appends it, so DG_CUDA_CHECK messages say what was wrong:
// "invalid argument (CUDA emulator: cudaMemcpy: destination 0x... + 400 bytes runs 16 bytes past ...)".
#pragma once

#include <cuda_runtime.h>

#include <string>

namespace dg::emu {

cudaError_t runtime_failure(cudaError_t code, std::string reason);

}  // namespace dg::emu
