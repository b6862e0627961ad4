// Ctrl-C and SIGTERM during training: the first asks the run to stop at the next step boundary
// (where it writes a resumable checkpoint and exits with kExitStopped); a second one, 2 s or more
// after the first, ends the process at once, as the default action would (one sooner is the same
// request doubled by a launcher). Installed for the lifetime of one training run.
#pragma once

namespace dg {

class StopSignals {
 public:
  StopSignals();   // installs the SIGINT and SIGTERM handlers
  ~StopSignals();  // restores the previous ones
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // The signal that asked the run to stop (SIGINT or SIGTERM), or 0.
  int requested() const;
  static const char* name(int signal);
};

}  // namespace dg
