// Finding where a diverged step first went non-finite, so the message names a tensor instead of
// only "loss is nan". Called only after a fault is detected: it copies buffers to the host.
#pragma once

#include <string>

#include "backend/backend.h"
#include "model/param_layout.h"

namespace dg {

// The name of the first parameter (in layout order) whose slice of `buffer` (a flat buffer in the
// layout's order: parameters or gradients) holds NaN or Inf, with the offending value and element:
// "blocks.0.attn.c_q.weight (nan at element 17)". Empty when every value is finite.
std::string first_non_finite_tensor(const ParamLayout& layout, Backend& backend, const Tensor& buffer);

}  // namespace dg
