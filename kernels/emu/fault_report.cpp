#include "emu/fault_report.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>

#include "emu/block_runner.h"
#include "emu/device_memory.h"

namespace dg::emu {
namespace {

const DynamicSharedMemory* g_dynamic_shared = nullptr;
const FiberStackPool* g_stacks = nullptr;
struct sigaction g_previous_segv, g_previous_bus;

void write_all(const char* text) {
  size_t left = std::strlen(text);
  while (left > 0) {
    const ssize_t n = write(STDERR_FILENO, text, left);
    if (n <= 0) return;
    text += n;
    left -= static_cast<size_t>(n);
  }
}

void on_fault(int signal_number, siginfo_t* info, void*) {
  // Restore the previous handler first: returning re-runs the faulting instruction, which then
  // takes the default action (or the test framework's), exactly as without the emulator.
  sigaction(signal_number, signal_number == SIGSEGV ? &g_previous_segv : &g_previous_bus, nullptr);
  const void* address = info->si_addr;
  char what[512];
  if (describe_guard_hit(address, what, sizeof what)) {
  } else if (g_stacks != nullptr && g_stacks->is_guard_page(address)) {
    std::snprintf(what, sizeof what,
                  "stack overflow: the thread used more than its %zu KiB fiber stack (large local arrays?)",
                  kFiberStackBytes / 1024);
  } else if (g_dynamic_shared != nullptr && g_dynamic_shared->in_guard_page(address)) {
    std::snprintf(what, sizeof what, "access past the end of the launch's %zu bytes of dynamic shared memory (at %p)",
                  g_dynamic_shared->bytes(), address);
  } else {
    std::snprintf(what, sizeof what, "invalid memory access at %p", address);
  }
  char message[1024];
  const EmuThread* thread = detail::g_thread;
  const BlockRunner* runner = detail::g_runner;
  if (thread != nullptr && runner != nullptr) {
    const uint3 b = runner->block_idx();
    std::snprintf(message, sizeof message,
                  "\nCUDA emulator: %s\n  in kernel %s, block (%u,%u,%u), thread (%u,%u,%u) (warp %u, lane %u)\n", what,
                  runner->call().name, b.x, b.y, b.z, thread->idx.x, thread->idx.y, thread->idx.z, thread->warp,
                  thread->lane);
  } else {
    std::snprintf(message, sizeof message, "\nCUDA emulator: %s (outside the kernel's threads)\n", what);
  }
  write_all(message);
}

// Fiber stack overflows fault on the fiber's own (exhausted) stack, so the handler runs on an
// alternate stack, one per OS thread.
void ensure_alternate_stack() {
  thread_local std::unique_ptr<char[]> alternate;
  stack_t current{};
  if (sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE)) return;  // someone set one
  const size_t bytes = 64 * 1024;
  alternate.reset(new char[bytes]);
  stack_t stack{};
  stack.ss_sp = alternate.get();
  stack.ss_size = bytes;
  sigaltstack(&stack, nullptr);
}

}  // namespace

FaultReportScope::FaultReportScope(const DynamicSharedMemory& dynamic_shared, const FiberStackPool& stacks) {
  g_dynamic_shared = &dynamic_shared;
  g_stacks = &stacks;
  ensure_alternate_stack();
  struct sigaction action {};
  action.sa_sigaction = on_fault;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  sigaction(SIGSEGV, &action, &g_previous_segv);
  sigaction(SIGBUS, &action, &g_previous_bus);
}

FaultReportScope::~FaultReportScope() {
  sigaction(SIGSEGV, &g_previous_segv, nullptr);
  sigaction(SIGBUS, &g_previous_bus, nullptr);
  g_dynamic_shared = nullptr;
  g_stacks = nullptr;
}

}  // namespace dg::emu
