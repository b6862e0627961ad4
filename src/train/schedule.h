// The challenge's learning-rate and Muon-momentum schedules, exactly as train_gpt.py computes them
// (its main(): lr_mul and the momentum warm-up), so a dartgolf run follows the same curve.
#pragma once

#include <cstdint>

namespace dg {

struct ScheduleSettings {
  int64_t iterations;                  // ITERATIONS
  int64_t warmdown_iters;              // WARMDOWN_ITERS; <= 0 disables the warmdown
  double max_wallclock_seconds;        // MAX_WALLCLOCK_SECONDS; > 0 makes the warmdown wall-clock based
  double muon_momentum;                // MUON_MOMENTUM (final value)
  double muon_momentum_warmup_start;   // MUON_MOMENTUM_WARMUP_START
  int64_t muon_momentum_warmup_steps;  // MUON_MOMENTUM_WARMUP_STEPS; <= 0 means no warm-up
};

// Multiplier on every optimizer's base learning rate at `step` (0-based, before the update),
// `elapsed_ms` of training time so far.
//  - warmdown_iters <= 0: always 1.
//  - iteration mode (max_wallclock_seconds <= 0): 1 until iterations − warmdown_iters, then
//    (iterations − step) / warmdown_iters falling linearly to 0 at `iterations`. Like
//    train_gpt.py, steps at or past `iterations` get 1 (the loop never reaches them).
//  - wall-clock mode: the warmdown covers the last warmdown_iters × (average step time) of the
//    wall-clock budget: remaining_ms / warmdown_ms once remaining_ms <= warmdown_ms, else 1,
//    with average step time elapsed_ms / max(step, 1) and remaining_ms clamped at 0.
double lr_multiplier(const ScheduleSettings& s, int64_t step, double elapsed_ms);

// Muon momentum at `step`: linear from muon_momentum_warmup_start to muon_momentum over the
// first muon_momentum_warmup_steps steps, then constant.
double muon_momentum_at(const ScheduleSettings& s, int64_t step);

}  // namespace dg
