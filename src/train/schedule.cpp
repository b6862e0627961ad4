#include "train/schedule.h"

#include <algorithm>

namespace dg {

double lr_multiplier(const ScheduleSettings& s, int64_t step, double elapsed_ms) {
  if (s.warmdown_iters <= 0) return 1.0;
  if (s.max_wallclock_seconds <= 0.0) {
    const int64_t warmdown_start = std::max<int64_t>(s.iterations - s.warmdown_iters, 0);
    if (step < warmdown_start || step >= s.iterations) return 1.0;
    return std::max(static_cast<double>(s.iterations - step) / static_cast<double>(s.warmdown_iters), 0.0);
  }
  const double max_wallclock_ms = 1000.0 * s.max_wallclock_seconds;
  const double step_ms = elapsed_ms / static_cast<double>(std::max<int64_t>(step, 1));
  const double warmdown_ms = static_cast<double>(s.warmdown_iters) * step_ms;
  const double remaining_ms = std::max(max_wallclock_ms - elapsed_ms, 0.0);
  // The 1e-9 floor keeps step 0 (elapsed 0, so warmdown_ms 0) from dividing by zero.
  return remaining_ms <= warmdown_ms ? remaining_ms / std::max(warmdown_ms, 1e-9) : 1.0;
}

double muon_momentum_at(const ScheduleSettings& s, int64_t step) {
  const double fraction = s.muon_momentum_warmup_steps > 0
                              ? std::min(static_cast<double>(step) / static_cast<double>(s.muon_momentum_warmup_steps), 1.0)
                              : 1.0;
  return (1.0 - fraction) * s.muon_momentum_warmup_start + fraction * s.muon_momentum;
}

}  // namespace dg
