// Runs one block of an emulated kernel: every CUDA thread is a fiber on the calling OS thread.
// Fibers switch only at sync points (__syncthreads, warp collectives), so between them a thread
// runs alone and atomics are plain read-modify-writes. Which ready fiber runs next is round robin
// (seed 0) or drawn by a seeded generator, so a missing barrier shows as a wrong result instead of
// a lucky one. A thread that can never continue (a barrier some threads never reach, a warp mask
// naming an exited lane) is a reported error, never a hang.
#pragma once

#include <boost/context/fiber.hpp>
#include <cuda_runtime.h>

#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "emu/fiber_stacks.h"

namespace dg::emu {

// A warp collective (__shfl_sync, __ballot_sync, __syncwarp, mma.sync, ldmatrix, ...). Every lane
// named in the mask parks with a pointer to its input and output; the last lane to arrive runs
// complete() over all of them (indexed by lane, null for lanes outside the mask), then all continue.
struct WarpOp {
  const char* name;
  void (*complete)(const void* const* inputs, void* const* outputs, uint32_t mask);
};

// One launch: what the fibers run and the launch configuration.
struct KernelCall {
  const char* name;
  dim3 grid;
  dim3 block;
  size_t dynamic_shared_bytes;
  void (*invoke)(const void* args);  // calls the kernel with its (copied) arguments
  const void* args;
};

// A cp.async whose destination stays poisoned until the issuing thread waits for its group.
struct AsyncCopy {
  void* dst;
  const void* src;
  uint32_t bytes;      // bytes written to dst
  uint32_t src_bytes;  // bytes read from src; the rest of dst is zero-filled
  uint64_t group;      // commit group number; == EmuThread::committed_groups while uncommitted
};

enum class ThreadState : uint8_t { Ready, Running, AtBarrier, InWarpOp, Exited };

struct EmuThread {
  uint3 idx{};
  uint32_t linear = 0, warp = 0, lane = 0;
  ThreadState state = ThreadState::Ready;
  boost::context::fiber resume;     // where this thread continues
  boost::context::fiber scheduler;  // where the scheduler continues while this thread runs
  // The warp collective this thread is parked in.
  const WarpOp* op = nullptr;
  uint32_t mask = 0;
  const void* input = nullptr;
  void* output = nullptr;
  std::exception_ptr error;
  std::vector<AsyncCopy> async_copies;
  uint64_t committed_groups = 0;
};

enum class BarrierKind : uint8_t { Sync, Count, And, Or };

class BlockRunner {
 public:
  BlockRunner(const KernelCall& call, FiberStackPool& stacks);
  BlockRunner(const BlockRunner&) = delete;
  BlockRunner& operator=(const BlockRunner&) = delete;

  // Runs block `block_idx` to completion; `seed` 0 runs ready threads round robin, any other
  // value draws them at random. Throws dg::Error on a deadlock or an error inside the kernel.
  void run(uint3 block_idx, uint64_t seed);

  // ---- called by kernel code, inside a fiber ----
  // __syncthreads and its _count/_and/_or forms: waits for every live thread of the block.
  int barrier(BarrierKind kind, int predicate);
  // A warp collective: waits for every lane in `mask` to arrive at the same op with the same mask.
  void warp_collective(const WarpOp& op, uint32_t mask, const void* input, void* output);
  // "kernel K, block (x,y,z), thread (x,y,z) (warp w, lane l)": for error messages.
  std::string where(const EmuThread& thread) const;

  const KernelCall& call() const { return call_; }
  uint3 block_idx() const { return block_idx_; }

 private:
  boost::context::fiber thread_main(uint32_t t, boost::context::fiber&& scheduler);
  void switch_to(uint32_t t);
  void park(EmuThread& thread);
  void thread_exited(EmuThread& thread);
  void release_barrier();
  void make_ready(uint32_t t);
  uint32_t next_ready();
  void fail(std::exception_ptr error);
  std::string describe_deadlock() const;
  std::string describe_wait(const EmuThread& thread) const;
  void abandon_fibers();

  KernelCall call_;
  FiberStackPool& stacks_;
  uint32_t thread_count_;
  std::vector<EmuThread> threads_;
  std::vector<uint32_t> warp_exited_;   // per warp: lanes that exited
  std::vector<uint32_t> warp_absent_;   // per warp: lanes beyond the block's thread count
  std::vector<uint32_t> warp_waiting_;  // per warp: lanes parked in a warp collective
  std::vector<uint32_t> ready_;         // ring buffer of ready threads
  uint32_t ready_mask_ = 0, ready_head_ = 0, ready_count_ = 0;
  uint32_t live_ = 0;
  uint32_t arrived_ = 0, barrier_true_ = 0;
  uint32_t last_barrier_arrived_ = 0, last_barrier_true_ = 0;
  uint64_t rng_state_ = 0;
  bool shuffled_ = false;
  uint3 block_idx_{};
  std::exception_ptr error_;
};

namespace detail {
// Per OS thread (fibers never migrate): another host thread that launches while a kernel runs here
// is not "inside a kernel".
extern thread_local EmuThread* g_thread;    // the thread running now; null outside a kernel
extern thread_local BlockRunner* g_runner;  // the runner of the block running now
}  // namespace detail

// The running emulated thread and its block; a dg::Error naming `what` outside a kernel.
EmuThread& this_thread(const char* what);
BlockRunner& this_block(const char* what);

}  // namespace dg::emu
