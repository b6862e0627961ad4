#include "emu/device_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <sstream>

#include "core/error.h"
#include "emu/control.h"
#include "emu/shared_memory.h"

namespace dg::emu {
namespace {

struct Allocation {
  size_t bytes;
  char* mapping;         // guard-paged allocations: the whole mapping; otherwise null
  size_t mapping_bytes;
};

std::mutex& registry_mutex() {
  static std::mutex mutex;
  return mutex;
}

std::map<const char*, Allocation>& registry() {
  static std::map<const char*, Allocation> allocations;
  return allocations;
}

size_t page_bytes() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

// The live allocation holding `address`, or end().
std::map<const char*, Allocation>::const_iterator find_holder(const char* address) {
  const auto& allocations = registry();
  auto it = allocations.upper_bound(address);
  if (it == allocations.begin()) return allocations.end();
  --it;
  return address < it->first + it->second.bytes ? it : allocations.end();
}

}  // namespace

void* device_allocate(size_t bytes) {
  if (bytes == 0) return nullptr;
  Allocation allocation{bytes, nullptr, 0};
  char* base = nullptr;
  if (bounds_check()) {
    // The allocation ends where the guard page begins (16-byte aligned, so vector loads stay legal).
    const size_t page = page_bytes();
    const size_t rounded = (bytes + 15) / 16 * 16;
    allocation.mapping_bytes = (rounded + page - 1) / page * page + page;
    void* mapping = mmap(nullptr, allocation.mapping_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    DG_CHECK(mapping != MAP_FAILED, "CUDA emulator: cannot allocate " << bytes << " bytes of device memory: "
                                                                      << std::strerror(errno));
    allocation.mapping = static_cast<char*>(mapping);
    char* guard = allocation.mapping + allocation.mapping_bytes - page;
    DG_CHECK(mprotect(guard, page, PROT_NONE) == 0, "CUDA emulator: cannot protect a guard page: " << std::strerror(errno));
    base = guard - rounded;
  } else {
    // cudaMalloc's 256-byte alignment.
    base = static_cast<char*>(std::aligned_alloc(256, (bytes + 255) / 256 * 256));
    DG_CHECK(base != nullptr, "CUDA emulator: cannot allocate " << bytes << " bytes of device memory");
  }
  std::memset(base, kPoisonByte, bytes);
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry()[base] = allocation;
  return base;
}

bool device_free(void* address, std::string* why) {
  if (address == nullptr) return true;  // cudaFree(nullptr) is a no-op
  Allocation allocation{};
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    auto it = registry().find(static_cast<const char*>(address));
    if (it == registry().end()) {
      std::ostringstream msg;
      msg << "cudaFree(" << address << "): not the start of a live device allocation (freed twice, or never "
          << "returned by cudaMalloc)";
      *why = msg.str();
      return false;
    }
    allocation = it->second;
    registry().erase(it);
  }
  if (allocation.mapping != nullptr)
    munmap(allocation.mapping, allocation.mapping_bytes);
  else
    std::free(address);
  return true;
}

std::string check_device_range(const void* address, size_t bytes, const char* role) {
  const char* a = static_cast<const char*>(address);
  std::lock_guard<std::mutex> lock(registry_mutex());
  auto it = find_holder(a);
  std::ostringstream msg;
  if (it == registry().end()) {
    msg << role << " " << address << " is not in any live device allocation";
    return msg.str();
  }
  const char* end = it->first + it->second.bytes;
  if (bytes > static_cast<size_t>(end - a)) {
    msg << role << " " << address << " + " << bytes << " bytes runs " << bytes - static_cast<size_t>(end - a)
        << " bytes past the end of a " << it->second.bytes << "-byte device allocation at "
        << static_cast<const void*>(it->first);
    return msg.str();
  }
  return "";
}

bool is_device_address(const void* address) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  return find_holder(static_cast<const char*>(address)) != registry().end();
}

bool describe_guard_hit(const void* address, char* out, size_t out_bytes) {
  std::unique_lock<std::mutex> lock(registry_mutex(), std::try_to_lock);
  if (!lock.owns_lock()) return false;
  const char* a = static_cast<const char*>(address);
  const auto& allocations = registry();
  auto it = allocations.upper_bound(a);
  if (it == allocations.begin()) return false;
  --it;
  const Allocation& allocation = it->second;
  if (allocation.mapping == nullptr) return false;
  const char* guard = allocation.mapping + allocation.mapping_bytes - page_bytes();
  if (a < guard || a >= allocation.mapping + allocation.mapping_bytes) return false;
  std::snprintf(out, out_bytes,
                "out-of-bounds device memory access: address %p is %zu bytes past the end of a %zu-byte device "
                "allocation at %p",
                address, static_cast<size_t>(a - (it->first + allocation.bytes)), allocation.bytes,
                static_cast<const void*>(it->first));
  return true;
}

}  // namespace dg::emu
