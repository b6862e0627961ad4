// LR warmdown and Muon momentum warm-up, checked at points computed by hand from train_gpt.py's
// formulas (lr_mul and the momentum ramp in its main()).
#include <gtest/gtest.h>

#include "train/schedule.h"

namespace dg {
namespace {

ScheduleSettings challenge_defaults() {
  // train_gpt.py's defaults: ITERATIONS=20000, WARMDOWN_ITERS=1200, MAX_WALLCLOCK_SECONDS=600,
  // MUON_MOMENTUM=0.95 warmed up from 0.85 over 500 steps.
  return {.iterations = 20000, .warmdown_iters = 1200, .max_wallclock_seconds = 600.0, .muon_momentum = 0.95,
          .muon_momentum_warmup_start = 0.85, .muon_momentum_warmup_steps = 500};
}

ScheduleSettings iteration_based() {
  ScheduleSettings s = challenge_defaults();
  s.max_wallclock_seconds = 0.0;
  return s;
}

TEST(LrMultiplier, IterationWarmdownIsLinearOverTheLastWarmdownSteps) {
  const ScheduleSettings s = iteration_based();
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 0, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 18799, 1e9), 1.0);  // elapsed time is ignored in this mode
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 18800, 0.0), 1.0);  // (20000 - 18800) / 1200
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 18801, 0.0), 1199.0 / 1200.0);
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 19400, 0.0), 0.5);
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 19700, 0.0), 0.25);
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 19999, 0.0), 1.0 / 1200.0);
  // train_gpt.py never trains at step >= iterations; its formula gives 1 there, and so do we.
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 20000, 0.0), 1.0);
}

TEST(LrMultiplier, WarmdownLongerThanTheRunStartsAtStepZero) {
  ScheduleSettings s = iteration_based();
  s.iterations = 100;
  s.warmdown_iters = 200;
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 0, 0.0), 0.5);  // 100 / 200
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 50, 0.0), 0.25);
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 99, 0.0), 1.0 / 200.0);
}

TEST(LrMultiplier, WallClockWarmdownUsesTheAverageStepTime) {
  const ScheduleSettings s = challenge_defaults();  // 600 s = 600000 ms budget
  // step 1000 after 200 s: step_ms 200, warmdown 240000 ms, remaining 400000 ms > warmdown -> 1.
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 1000, 200000.0), 1.0);
  // step 1000 after 300 s: step_ms 300, warmdown 360000 ms, remaining 300000 ms -> 300000/360000.
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 1000, 300000.0), 300000.0 / 360000.0);
  // step 4000 after 540 s: step_ms 135, warmdown 162000 ms, remaining 60000 ms -> 60000/162000.
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 4000, 540000.0), 60000.0 / 162000.0);
  // step 2400 after 360 s: step_ms 150, warmdown 180000 ms, remaining 240000 ms -> 1.
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 2400, 360000.0), 1.0);
  // step 2000 after 375 s: step_ms 187.5, warmdown 225000 ms = remaining -> the ramp's start, 1.
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 2000, 375000.0), 1.0);
  // Past the budget the multiplier is 0, never negative.
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 5000, 610000.0), 0.0);
  // The iteration count does not matter in this mode.
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 25000, 300000.0), 1.0);
}

TEST(LrMultiplier, WallClockAtTheFirstStepDividesByOneStep) {
  const ScheduleSettings s = challenge_defaults();
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 0, 0.0), 1.0);  // warmdown_ms 0, remaining 600000 -> 1
  // step 0 after a slow 500 ms first step: step_ms = 500 / max(0, 1), warmdown 600000 ms,
  // remaining 599500 ms <= warmdown -> 599500 / 600000.
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 0, 500.0), 599500.0 / 600000.0);
}

TEST(LrMultiplier, NoWarmdownMeansOne) {
  for (int64_t warmdown : {int64_t{0}, int64_t{-5}}) {
    ScheduleSettings wallclock = challenge_defaults();
    wallclock.warmdown_iters = warmdown;
    ScheduleSettings iterations = iteration_based();
    iterations.warmdown_iters = warmdown;
    for (int64_t step : {int64_t{0}, int64_t{19999}, int64_t{20000}, int64_t{30000}}) {
      EXPECT_DOUBLE_EQ(lr_multiplier(wallclock, step, 700000.0), 1.0) << step;
      EXPECT_DOUBLE_EQ(lr_multiplier(iterations, step, 700000.0), 1.0) << step;
    }
  }
}

TEST(MuonMomentum, WarmsUpLinearlyThenHolds) {
  const ScheduleSettings s = challenge_defaults();
  EXPECT_DOUBLE_EQ(muon_momentum_at(s, 0), 0.85);
  EXPECT_DOUBLE_EQ(muon_momentum_at(s, 250), 0.5 * 0.85 + 0.5 * 0.95);
  EXPECT_DOUBLE_EQ(muon_momentum_at(s, 100), 0.8 * 0.85 + 0.2 * 0.95);
  EXPECT_DOUBLE_EQ(muon_momentum_at(s, 500), 0.95);
  EXPECT_DOUBLE_EQ(muon_momentum_at(s, 5000), 0.95);
}

TEST(MuonMomentum, PR345WarmUpOf300Steps) {
  ScheduleSettings s = challenge_defaults();
  s.muon_momentum_warmup_steps = 300;
  EXPECT_DOUBLE_EQ(muon_momentum_at(s, 150), 0.5 * 0.85 + 0.5 * 0.95);
  EXPECT_DOUBLE_EQ(muon_momentum_at(s, 300), 0.95);
}

TEST(MuonMomentum, NoWarmUpStepsMeansFinalMomentumFromTheStart) {
  ScheduleSettings s = challenge_defaults();
  s.muon_momentum_warmup_steps = 0;
  EXPECT_DOUBLE_EQ(muon_momentum_at(s, 0), 0.95);
}

}  // namespace
}  // namespace dg
