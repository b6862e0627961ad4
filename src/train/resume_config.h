// Which settings a resumed run may change. Continuing a run with another learning rate, batch or
// shape would silently make it a different run than the one its log and checkpoints describe, so
// such a change is refused, naming the setting; bookkeeping (logging cadence, checkpoints, threads,
// where the data lives, the length of the run) may change.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"

namespace dg {

// The settings a resumed run may change.
const std::vector<std::string>& resumable_setting_changes();

// Throws naming every setting whose value in `now` differs from the run's `stored` config and is
// not in resumable_setting_changes(), with both values and where the new one came from.
void check_resume_changes(const Config& stored, const Config& now);

}  // namespace dg
