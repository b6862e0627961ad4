#include "train/step_agreement.h"

#include <signal.h>

namespace dg {

double StepAgreement::mean_loss(double local_loss) {
  comm_.all_reduce_host(&local_loss, 1, dist::ReduceOp::Avg);
  return local_loss;
}

StepAgreement::Boundary StepAgreement::at_boundary(int local_signal, double local_training_ms) {
  // Counts of ranks that received each signal, and the clock of rank 0 (the others add zero).
  double values[3] = {local_signal == SIGTERM ? 1.0 : 0.0, local_signal == SIGINT ? 1.0 : 0.0,
                      comm_.rank() == 0 ? local_training_ms : 0.0};
  comm_.all_reduce_host(values, 3, dist::ReduceOp::Sum);
  Boundary b;
  b.stop_signal = values[0] > 0 ? SIGTERM : values[1] > 0 ? SIGINT : 0;
  b.training_ms = values[2];
  return b;
}

}  // namespace dg
