#include "emu/kernel_launch.h"

#include <map>
#include <mutex>
#include <numeric>
#include <sstream>

#include "core/error.h"
#include "emu/control.h"
#include "emu/device_limits.h"
#include "emu/fault_report.h"
#include "emu/shared_memory.h"
#include "emu/streams.h"

namespace dg::emu {
namespace {

std::mutex& launch_mutex() {
  static std::mutex mutex;
  return mutex;
}

FiberStackPool& stack_pool() {
  static FiberStackPool pool;
  return pool;
}

std::mutex& attribute_mutex() {
  static std::mutex mutex;
  return mutex;
}

std::map<const void*, size_t>& dynamic_shared_limits() {
  static std::map<const void*, size_t> limits;
  return limits;
}

std::string describe(const KernelCall& call) {
  std::ostringstream out;
  out << "kernel " << call.name << " (grid (" << call.grid.x << "," << call.grid.y << "," << call.grid.z << "), block ("
      << call.block.x << "," << call.block.y << "," << call.block.z << "), " << call.dynamic_shared_bytes
      << " bytes of dynamic shared memory)";
  return out.str();
}

void check_limits(const KernelCall& call, size_t allowed_dynamic_shared) {
  const DeviceLimits& limits = kEmulatedDevice;
  const uint32_t block[3] = {call.block.x, call.block.y, call.block.z};
  const uint32_t grid[3] = {call.grid.x, call.grid.y, call.grid.z};
  const char* axis = "xyz";
  const std::string refused = "CUDA emulator: cannot launch " + describe(call) + ": ";
  for (int i = 0; i < 3; ++i) {
    DG_CHECK(block[i] > 0 && grid[i] > 0, refused << "a grid or block dimension is 0");
    DG_CHECK(block[i] <= limits.max_block_dim[i],
             refused << "blockDim." << axis[i] << " = " << block[i] << " exceeds the limit of " << limits.max_block_dim[i]
                     << " (x <= 1024, y <= 1024, z <= 64)");
    DG_CHECK(grid[i] <= limits.max_grid_dim[i],
             refused << "gridDim." << axis[i] << " = " << grid[i] << " exceeds the limit of " << limits.max_grid_dim[i]
                     << " (x <= 2147483647, y <= 65535, z <= 65535)");
  }
  const uint64_t threads = uint64_t{block[0]} * block[1] * block[2];
  DG_CHECK(threads <= limits.max_threads_per_block,
           refused << "a block of " << threads << " threads exceeds the limit of " << limits.max_threads_per_block
                   << " threads per block");
  DG_CHECK(call.dynamic_shared_bytes <= limits.max_shared_per_block_optin,
           refused << call.dynamic_shared_bytes << " bytes of dynamic shared memory exceed the sm_90 maximum of "
                   << limits.max_shared_per_block_optin << " bytes (227 KiB) per block");
  DG_CHECK(call.dynamic_shared_bytes <= allowed_dynamic_shared,
           refused << call.dynamic_shared_bytes << " bytes of dynamic shared memory exceed the "
                   << allowed_dynamic_shared << " bytes this kernel may use"
                   << (allowed_dynamic_shared == limits.default_shared_per_block ? " by default (48 KiB)" : "")
                   << "; above 48 KiB a kernel must first opt in with cudaFuncSetAttribute(kernel, "
                      "cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)");
}

// Block order: in order for seed 0, otherwise an affine permutation i -> (a·i + c) mod n with a
// coprime to n (a bijection that needs no memory, whatever the grid size).
struct BlockOrder {
  uint64_t count, a = 1, c = 0;
  BlockOrder(uint64_t n, uint64_t seed) : count(n) {
    if (seed == 0 || n < 2) return;
    uint64_t state = seed * 0x9E3779B97F4A7C15ull + n;
    auto next = [&state] {
      state ^= state >> 33;
      state *= 0xFF51AFD7ED558CCDull;
      state ^= state >> 33;
      return state;
    };
    do a = 1 + next() % (n - 1);
    while (std::gcd(a, n) != 1);
    c = next() % n;
  }
  uint64_t operator[](uint64_t i) const {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(a) * i + c) % count);
  }
};

}  // namespace

void set_max_dynamic_shared(const void* kernel, size_t bytes) {
  std::lock_guard<std::mutex> lock(attribute_mutex());
  dynamic_shared_limits()[kernel] = bytes;
}

size_t max_dynamic_shared(const void* kernel) {
  std::lock_guard<std::mutex> lock(attribute_mutex());
  auto it = dynamic_shared_limits().find(kernel);
  return it == dynamic_shared_limits().end() ? kEmulatedDevice.default_shared_per_block : it->second;
}

void launch_kernel(const KernelCall& call, const void* kernel, cudaStream_t stream) {
  DG_CHECK(detail::g_thread == nullptr,
           "CUDA emulator: " << describe(call) << " launched from inside a kernel (dynamic parallelism is not emulated)");
  DG_CHECK(stream_is_valid(stream), "CUDA emulator: cannot launch " << describe(call) << ": stream " << stream
                                                                    << " was not created by cudaStreamCreate or was destroyed");
  check_limits(call, max_dynamic_shared(kernel));
  std::lock_guard<std::mutex> lock(launch_mutex());
  DynamicSharedMemory dynamic_shared(call.dynamic_shared_bytes);
  FiberStackPool& stacks = stack_pool();
  FaultReportScope fault_report(dynamic_shared, stacks);
  BlockRunner runner(call, stacks);
  const uint64_t seed = schedule_seed();
  const uint64_t gx = call.grid.x, gy = call.grid.y;
  const BlockOrder order(gx * gy * call.grid.z, seed);
  for (uint64_t i = 0; i < order.count; ++i) {
    const uint64_t b = order[i];
    dynamic_shared.poison_all();
    runner.run(uint3{static_cast<unsigned>(b % gx), static_cast<unsigned>(b / gx % gy), static_cast<unsigned>(b / (gx * gy))},
               seed);
  }
}

}  // namespace dg::emu
