// Range checks for the settings of the training loop, optimizer, data and evaluation, run before a
// run reads any data: a negative or out-of-range value is an error naming the setting, its value and
// where it came from, never a silent coercion. (The model's shape is checked by model_layout.)
#pragma once

#include "core/config.h"

namespace dg {

void check_run_settings(const Config& config);

}  // namespace dg
