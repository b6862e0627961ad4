#include "train/stop_signals.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <ctime>

namespace dg {
namespace {

std::atomic<int> g_requested{0};
std::atomic<int64_t> g_first_ns{0};  // when the first signal came (CLOCK_MONOTONIC)
struct sigaction g_previous_int, g_previous_term;

// A launcher that forwards a stop to its workers often doubles it: Ctrl-C reaches the whole process
// group, and torchrun (or `timeout`) sends its own SIGTERM right after. A second signal this soon
// after the first is taken as the same request, not as "exit at once".
constexpr int64_t kSameRequestNs = 2'000'000'000;

int64_t monotonic_ns() {
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC, &t);  // async-signal-safe
  return static_cast<int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

void write_stderr(const char* text) {
  // write(2) is async-signal-safe; stdio is not.
  const ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

void on_stop_signal(int signal) {
  int expected = 0;
  if (g_requested.compare_exchange_strong(expected, signal)) {
    g_first_ns.store(monotonic_ns());
    write_stderr(signal == SIGINT ? "\ndartgolf: SIGINT" : "\ndartgolf: SIGTERM");
    write_stderr(": stopping at the next step boundary with a resumable checkpoint (send it again to exit at once)\n");
    return;
  }
  if (monotonic_ns() - g_first_ns.load() < kSameRequestNs) return;
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
