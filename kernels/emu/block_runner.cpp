#include "emu/block_runner.h"

#include <bit>
#include <sstream>

#include "core/error.h"
#include "emu/builtins.h"

namespace dg::emu {
namespace ctx = boost::context;

namespace detail {
thread_local EmuThread* g_thread = nullptr;
thread_local BlockRunner* g_runner = nullptr;
}  // namespace detail

EmuThread& this_thread(const char* what) {
  if (detail::g_thread == nullptr) DG_THROW("CUDA emulator: " << what << " used outside an emulated kernel");
  return *detail::g_thread;
}

BlockRunner& this_block(const char* what) {
  if (detail::g_runner == nullptr || detail::g_thread == nullptr)
    DG_THROW("CUDA emulator: " << what << " used outside an emulated kernel");
  return *detail::g_runner;
}

namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::string hex_mask(uint32_t mask) {
  std::ostringstream out;
  out << "0x" << std::hex;
  out.width(8);
  out.fill('0');
  out << mask;
  return out.str();
}

// "0-15, 20, 22-23"
std::string lane_list(uint32_t lanes) {
  std::ostringstream out;
  bool first = true;
  for (int l = 0; l < 32;) {
    if (!(lanes >> l & 1u)) {
      ++l;
      continue;
    }
    int end = l;
    while (end + 1 < 32 && (lanes >> (end + 1) & 1u)) ++end;
    out << (first ? "" : ", ") << l;
    if (end > l) out << "-" << end;
    first = false;
    l = end + 1;
  }
  return out.str();
}

std::string dims(uint3 d) {
  std::ostringstream out;
  out << "(" << d.x << "," << d.y << "," << d.z << ")";
  return out.str();
}

}  // namespace

BlockRunner::BlockRunner(const KernelCall& call, FiberStackPool& stacks)
    : call_(call), stacks_(stacks), thread_count_(call.block.x * call.block.y * call.block.z) {
  threads_.resize(thread_count_);
  const uint32_t warps = (thread_count_ + 31) / 32;
  warp_exited_.assign(warps, 0);
  warp_absent_.assign(warps, 0);
  warp_waiting_.assign(warps, 0);
  if (thread_count_ % 32 != 0) warp_absent_.back() = ~0u << (thread_count_ % 32);
  ready_.resize(std::bit_ceil(thread_count_));  // a power of two: ring indices wrap with a mask
  ready_mask_ = static_cast<uint32_t>(ready_.size()) - 1;
  for (uint32_t t = 0; t < thread_count_; ++t) {
    EmuThread& th = threads_[t];
    th.linear = t;
    th.warp = t / 32;
    th.lane = t % 32;
    th.idx = uint3{t % call.block.x, (t / call.block.x) % call.block.y, t / (call.block.x * call.block.y)};
  }
}

void BlockRunner::run(uint3 block_idx, uint64_t seed) {
  block_idx_ = block_idx;
  shuffled_ = seed != 0;
  rng_state_ = seed ^ (0x632BE59BD9B4E019ull *
                       (1 + block_idx.x + 65536ull * (block_idx.y + 65536ull * block_idx.z)));
  detail::g_block_idx = block_idx;
  detail::g_block_dim = call_.block;
  detail::g_grid_dim = call_.grid;
  error_ = nullptr;
  live_ = thread_count_;
  arrived_ = barrier_true_ = 0;
  ready_head_ = ready_count_ = 0;
  for (uint32_t w = 0; w < warp_exited_.size(); ++w) {
    warp_exited_[w] = warp_absent_[w];
    warp_waiting_[w] = 0;
  }
  for (uint32_t t = 0; t < thread_count_; ++t) {
    EmuThread& th = threads_[t];
    th.state = ThreadState::Ready;
    th.op = nullptr;
    th.error = nullptr;
    th.async_copies.clear();
    th.committed_groups = 0;
    th.resume = ctx::fiber(std::allocator_arg, PooledStackAllocator{&stacks_},
                           [this, t](ctx::fiber&& scheduler) { return thread_main(t, std::move(scheduler)); });
    make_ready(t);
  }
  detail::g_runner = this;
  while (live_ > 0 && !error_) {
    if (ready_count_ == 0) {
      error_ = std::make_exception_ptr(Error(describe_deadlock(), __FILE__, __LINE__));
      break;
    }
    switch_to(next_ready());
  }
  detail::g_runner = nullptr;
  if (error_) {
    abandon_fibers();
    std::rethrow_exception(error_);
  }
}

ctx::fiber BlockRunner::thread_main(uint32_t t, ctx::fiber&& scheduler) {
  EmuThread& th = threads_[t];
  th.scheduler = std::move(scheduler);
  try {
    call_.invoke(call_.args);
  } catch (const ctx::detail::forced_unwind&) {
    throw;  // the block is being abandoned: let Boost unwind this fiber's stack
  } catch (...) {
    th.error = std::current_exception();
  }
  return std::move(th.scheduler);
}

void BlockRunner::switch_to(uint32_t t) {
  EmuThread& th = threads_[t];
  th.state = ThreadState::Running;
  detail::g_thread = &th;
  detail::g_thread_idx = th.idx;
  th.resume = std::move(th.resume).resume();
  detail::g_thread = nullptr;
  if (!th.resume) thread_exited(th);
}

void BlockRunner::park(EmuThread& th) { th.scheduler = std::move(th.scheduler).resume(); }

void BlockRunner::make_ready(uint32_t t) {
  threads_[t].state = ThreadState::Ready;
  ready_[(ready_head_ + ready_count_) & ready_mask_] = t;
  ++ready_count_;
}

uint32_t BlockRunner::next_ready() {
  if (shuffled_ && ready_count_ > 1) {
    // A uniform pick among the ready threads (multiply-shift rather than a division).
    const uint64_t r = splitmix64(rng_state_);
    const auto offset = static_cast<uint32_t>((static_cast<unsigned __int128>(r) * ready_count_) >> 64);
    std::swap(ready_[(ready_head_ + offset) & ready_mask_], ready_[ready_head_]);
  }
  const uint32_t t = ready_[ready_head_];
  ready_head_ = (ready_head_ + 1) & ready_mask_;
  --ready_count_;
  return t;
}

void BlockRunner::fail(std::exception_ptr error) {
  if (!error_) error_ = error;
}

void BlockRunner::thread_exited(EmuThread& th) {
  th.state = ThreadState::Exited;
  --live_;
  if (th.error) {
    fail(th.error);
    return;
  }
  const uint32_t bit = 1u << th.lane;
  warp_exited_[th.warp] |= bit;
  for (uint32_t lanes = warp_waiting_[th.warp]; lanes != 0; lanes &= lanes - 1) {
    const EmuThread& waiter = threads_[th.warp * 32 + std::countr_zero(lanes)];
    if (waiter.mask & bit) {
      std::ostringstream msg;
      msg << "CUDA emulator: deadlock in kernel " << call_.name << ", block " << dims(block_idx_) << ": thread "
          << dims(th.idx) << " (warp " << th.warp << ", lane " << th.lane << ") exited while thread " << dims(waiter.idx)
          << " (lane " << waiter.lane << ") waits for it in " << waiter.op->name << "(mask " << hex_mask(waiter.mask) << "); a warp collective's mask must name only lanes "
          << "that reach it";
      fail(std::make_exception_ptr(Error(msg.str(), __FILE__, __LINE__)));
      return;
    }
  }
  th.async_copies.clear();  // copies nobody waited for never land
  if (arrived_ > 0 && arrived_ == live_) release_barrier();
}

int BlockRunner::barrier(BarrierKind kind, int predicate) {
  EmuThread& th = *detail::g_thread;
  th.state = ThreadState::AtBarrier;
  if (predicate) ++barrier_true_;
  if (++arrived_ == live_) release_barrier();
  park(th);
  switch (kind) {
    case BarrierKind::Count: return static_cast<int>(last_barrier_true_);
    case BarrierKind::And: return last_barrier_true_ == last_barrier_arrived_;
    case BarrierKind::Or: return last_barrier_true_ > 0;
    case BarrierKind::Sync: break;
  }
  return 0;
}

void BlockRunner::release_barrier() {
  last_barrier_arrived_ = arrived_;
  last_barrier_true_ = barrier_true_;
  arrived_ = barrier_true_ = 0;
  for (uint32_t t = 0; t < thread_count_; ++t)
    if (threads_[t].state == ThreadState::AtBarrier) make_ready(t);
}

void BlockRunner::warp_collective(const WarpOp& op, uint32_t mask, const void* input, void* output) {
  EmuThread& th = *detail::g_thread;
  const uint32_t bit = 1u << th.lane;
  if (!(mask & bit))
    DG_THROW("CUDA emulator: " << where(th) << " calls " << op.name << " with mask " << hex_mask(mask)
                               << ", which does not name its own lane " << th.lane);
  if (const uint32_t gone = mask & warp_exited_[th.warp]; gone != 0) {
    const uint32_t absent = gone & warp_absent_[th.warp];
    DG_THROW("CUDA emulator: deadlock: " << where(th) << " calls " << op.name << " with mask " << hex_mask(mask)
                                         << ", which names lanes " << lane_list(gone) << " of warp " << th.warp
                                         << (absent == gone ? " that are not part of the block (it has "
                                                            : " that have already exited (the block has ")
                                         << thread_count_ << " threads)");
  }
  th.op = &op;
  th.mask = mask;
  th.input = input;
  th.output = output;
  th.state = ThreadState::InWarpOp;
  uint32_t& waiting = warp_waiting_[th.warp];
  waiting |= bit;
  if ((waiting & mask) == mask) {
    const void* inputs[32] = {};
    void* outputs[32] = {};
    bool same = true;
    for (uint32_t lanes = mask; lanes != 0 && same; lanes &= lanes - 1) {
      const uint32_t l = std::countr_zero(lanes);
      const EmuThread& peer = threads_[th.warp * 32 + l];
      same = peer.op == &op && peer.mask == mask;
      inputs[l] = peer.input;
      outputs[l] = peer.output;
    }
    if (same) {
      op.complete(inputs, outputs, mask);
      waiting &= ~mask;
      for (uint32_t lanes = mask; lanes != 0; lanes &= lanes - 1) make_ready(th.warp * 32 + std::countr_zero(lanes));
    }
  }
  park(th);
  th.op = nullptr;
}

std::string BlockRunner::where(const EmuThread& th) const {
  std::ostringstream out;
  out << "kernel " << call_.name << ", block " << dims(block_idx_) << ", thread " << dims(th.idx) << " (warp "
      << th.warp << ", lane " << th.lane << ")";
  return out.str();
}

std::string BlockRunner::describe_wait(const EmuThread& th) const {
  std::ostringstream out;
  switch (th.state) {
    case ThreadState::AtBarrier:
      out << "at __syncthreads (" << arrived_ << " of " << live_ << " live threads arrived)";
      break;
    case ThreadState::InWarpOp: {
      uint32_t missing = 0;
      for (uint32_t lanes = th.mask; lanes != 0; lanes &= lanes - 1) {
        const uint32_t l = std::countr_zero(lanes);
        const EmuThread& peer = threads_[th.warp * 32 + l];
        if (peer.state != ThreadState::InWarpOp || peer.op != th.op || peer.mask != th.mask) missing |= 1u << l;
      }
      out << "at " << th.op->name << "(mask " << hex_mask(th.mask) << "), waiting for lanes " << lane_list(missing);
      break;
    }
    case ThreadState::Exited: out << "exited"; break;
    case ThreadState::Ready:
    case ThreadState::Running: out << "running"; break;
  }
  return out.str();
}

std::string BlockRunner::describe_deadlock() const {
  std::ostringstream out;
  out << "CUDA emulator: deadlock in kernel " << call_.name << ", block " << dims(block_idx_) << " ("
      << thread_count_ << " threads, " << live_ << " live): no thread can continue";
  // One line per run of consecutive threads that wait on the same thing.
  for (uint32_t t = 0; t < thread_count_;) {
    const std::string what = describe_wait(threads_[t]);
    uint32_t end = t;
    while (end + 1 < thread_count_ && threads_[end + 1].warp == threads_[t].warp &&
           describe_wait(threads_[end + 1]) == what)
      ++end;
    if (threads_[t].state != ThreadState::Exited) {
      if (end > t)
        out << "\n  threads " << dims(threads_[t].idx) << ".." << dims(threads_[end].idx) << " (warp " << threads_[t].warp
            << ", lanes " << threads_[t].lane << "-" << threads_[end].lane << "): " << what;
      else
        out << "\n  thread " << dims(threads_[t].idx) << " (warp " << threads_[t].warp << ", lane " << threads_[t].lane
            << "): " << what;
    }
    t = end + 1;
  }
  return out.str();
}

void BlockRunner::abandon_fibers() {
  // Destroying a suspended fiber unwinds its stack (Boost throws forced_unwind into it), so the
  // destructors of the kernel's locals run and the stack returns to the pool.
  for (EmuThread& th : threads_) {
    if (!th.resume) continue;
    detail::g_thread = &th;
    th.resume = ctx::fiber{};
  }
  detail::g_thread = nullptr;
}

}  // namespace dg::emu
