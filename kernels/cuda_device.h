// Host-side entry points of the CUDA code that plain C++ may call (no CUDA headers here).
// Only compiled when DARTGOLF_WITH_CUDA is defined.
#pragma once

#include <cstdint>
#include <string>

#include "data/byte_luts.h"

namespace dg::cuda {

// True when a CUDA device can be used; otherwise `reason` says why (no driver, no device, ...).
bool device_available(std::string* reason);

// Σ target_bytes(luts, prev[i], target[i]) computed on the GPU (val_bpb's denominator).
int64_t count_target_bytes(const data::ByteLuts& luts, const int32_t* prev_ids, const int32_t* target_ids, int64_t n);

}  // namespace dg::cuda
