// Stacks for the emulator's fibers (one fiber per CUDA thread): 64 KiB each with a guard page
// below, mapped once and reused across blocks and launches, because a launch of 1,000 blocks of
// 256 threads would otherwise map and unmap 256,000 stacks.
#pragma once

#include <boost/context/stack_context.hpp>

#include <cstddef>
#include <vector>

namespace dg::emu {

inline constexpr size_t kFiberStackBytes = 64 * 1024;

class FiberStackPool {
 public:
  FiberStackPool() = default;
  FiberStackPool(const FiberStackPool&) = delete;
  FiberStackPool& operator=(const FiberStackPool&) = delete;
  ~FiberStackPool();

  boost::context::stack_context take();
  void give_back(boost::context::stack_context& stack) noexcept;

  // True when `address` lies in the guard page of one of the pool's stacks (a fiber overflowed).
  bool is_guard_page(const void* address) const;

 private:
  std::vector<void*> free_;   // stack tops ready for reuse
  std::vector<char*> mapped_; // every mapping (guard page first), for unmapping and guard lookups
};

// The allocator Boost.Context asks for a fiber's stack; it borrows from a pool.
struct PooledStackAllocator {
  FiberStackPool* pool;
  boost::context::stack_context allocate() { return pool->take(); }
  void deallocate(boost::context::stack_context& stack) noexcept { pool->give_back(stack); }
};

}  // namespace dg::emu
