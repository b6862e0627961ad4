#include "train/stop_signals.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace dg {
namespace {

std::atomic<int> g_requested{0};
struct sigaction g_previous_int, g_previous_term;

void write_stderr(const char* text) {
  // write(2) is async-signal-safe; stdio is not.
  const ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

void on_stop_signal(int signal) {
  int expected = 0;
  if (g_requested.compare_exchange_strong(expected, signal)) {
    write_stderr(signal == SIGINT ? "\ndartgolf: SIGINT" : "\ndartgolf: SIGTERM");
    write_stderr(": stopping at the next step boundary with a resumable checkpoint (send it again to exit at once)\n");
    return;
  }
  // The second signal: die the way the signal's default action would, right now.
  ::signal(signal, SIG_DFL);
  ::raise(signal);
}

}  // namespace

StopSignals::StopSignals() {
  g_requested.store(0);
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // a read or write in progress carries on; the loop polls requested()
  ::sigaction(SIGINT, &action, &g_previous_int);
  ::sigaction(SIGTERM, &action, &g_previous_term);
}

StopSignals::~StopSignals() {
  ::sigaction(SIGINT, &g_previous_int, nullptr);
  ::sigaction(SIGTERM, &g_previous_term, nullptr);
}

int StopSignals::requested() const { return g_requested.load(); }

const char* StopSignals::name(int signal) {
  switch (signal) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    default: return "a signal";
  }
}

}  // namespace dg
