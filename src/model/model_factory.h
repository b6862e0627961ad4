// Builds the model a run config names (setting "model").
#pragma once

#include <memory>

#include "backend/backend.h"
#include "core/config.h"
#include "model/language_model.h"

namespace dg {

std::unique_ptr<LanguageModel> make_model(const Config& config, Backend& backend, int64_t max_rows, int64_t seq_len);
// The parameter layout the config implies, without allocating a model.
ParamLayout model_layout(const Config& config);

}  // namespace dg
