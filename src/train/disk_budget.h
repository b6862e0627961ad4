// Whether the run folder's disk can hold what the run will write, checked before training starts:
// finding out at the first checkpoint, or at the final model after hours, is too late.
#pragma once

#include <filesystem>

#include "core/config.h"
#include "core/log.h"
#include "model/param_layout.h"

namespace dg {

// Bytes a run writes at its peak: keep_checkpoints + 1 resumable checkpoints (a new one is written
// before the oldest is pruned), the final model and the artifact.
int64_t run_disk_need_bytes(const ParamLayout& layout, const Config& config);

// Throws when the folder's filesystem has less space available than run_disk_need_bytes, naming
// both numbers; logs the budget otherwise. A filesystem that cannot report its space is not checked.
void check_disk_budget(const std::filesystem::path& run_dir, const ParamLayout& layout, const Config& config,
                       Logger& log);

}  // namespace dg
