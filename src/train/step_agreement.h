// Data-parallel ranks must take the same decisions at every step or their weights part ways: each
// measures its own loss, receives its own signals and runs its own clock. These agree on them, each
// through one small all-reduce of host values (a single process agrees with itself for free).
#pragma once

#include "dist/communicator.h"

namespace dg {

class StepAgreement {
 public:
  explicit StepAgreement(dist::Communicator& comm) : comm_(comm) {}

  // The mean over all ranks of each rank's loss for this step: what one process training the whole
  // global batch would log; non-finite on every rank when it is on any, so all skip or stop alike.
  double mean_loss(double local_loss);

  struct Boundary {
    int stop_signal = 0;        // SIGTERM if any rank received it, else SIGINT if any did, else 0
    double training_ms = 0.0;   // rank 0's training clock: drives the schedule and the wall-clock cap
  };
  // At a step boundary, what all ranks act on.
  Boundary at_boundary(int local_signal, double local_training_ms);

 private:
  dist::Communicator& comm_;
};

}  // namespace dg
