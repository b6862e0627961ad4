#include "emu/fiber_stacks.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace dg::emu {
namespace {

size_t page_bytes() {
  static const size_t bytes = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return bytes;
}

}  // namespace

FiberStackPool::~FiberStackPool() {
  for (char* base : mapped_) munmap(base, kFiberStackBytes + page_bytes());
}

boost::context::stack_context FiberStackPool::take() {
  boost::context::stack_context stack;
  stack.size = kFiberStackBytes;
  if (!free_.empty()) {
    stack.sp = free_.back();
    free_.pop_back();
    return stack;
  }
  const size_t guard = page_bytes();
  void* base = mmap(nullptr, kFiberStackBytes + guard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  DG_CHECK(base != MAP_FAILED, "CUDA emulator: cannot map a fiber stack: " << std::strerror(errno));
  // Stacks grow down: the guard page sits below the lowest usable byte, so an overflow faults.
  DG_CHECK(mprotect(base, guard, PROT_NONE) == 0, "CUDA emulator: cannot protect a fiber stack's guard page: "
                                                      << std::strerror(errno));
  mapped_.push_back(static_cast<char*>(base));
  stack.sp = static_cast<char*>(base) + guard + kFiberStackBytes;
  return stack;
}

void FiberStackPool::give_back(boost::context::stack_context& stack) noexcept {
  try {
    free_.push_back(stack.sp);
  } catch (...) {
    // Out of memory for one pointer: the stack stays mapped and is unmapped with the pool.
  }
}

bool FiberStackPool::is_guard_page(const void* address) const {
  const char* a = static_cast<const char*>(address);
  for (const char* base : mapped_)
    if (a >= base && a < base + page_bytes()) return true;
  return false;
}

}  // namespace dg::emu
