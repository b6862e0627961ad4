#include "emu/shared_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "core/error.h"
#include "emu/block_runner.h"

namespace dg::emu {
namespace {

struct StaticShared {
  char* address;
  size_t bytes;
};

std::mutex& registry_mutex() {
  static std::mutex mutex;
  return mutex;
}

std::vector<StaticShared>& registry() {
  static std::vector<StaticShared> variables;
  return variables;
}

DynamicSharedMemory* g_dynamic = nullptr;  // the running launch's buffer

size_t page_bytes() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

}  // namespace

bool register_static_shared(void* address, size_t bytes, const char* name, const char* file, int line) {
  DG_CHECK(address != nullptr && bytes > 0,
           "CUDA emulator: static __shared__ variable " << name << " (" << file << ":" << line << ") has no storage");
  std::memset(address, kPoisonByte, bytes);
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().push_back({static_cast<char*>(address), bytes});
  return true;
}

void* dynamic_shared_memory() {
  this_thread("dynamic shared memory (DG_DYNAMIC_SHARED)");
  DG_CHECK(g_dynamic != nullptr, "CUDA emulator: no dynamic shared memory buffer in this launch");
  return g_dynamic->data();
}

bool is_shared_memory(const void* address, size_t bytes) {
  const char* a = static_cast<const char*>(address);
  if (g_dynamic != nullptr) {
    const char* d = static_cast<const char*>(g_dynamic->data());
    if (a >= d && a + bytes <= d + g_dynamic->bytes()) return true;
  }
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (const StaticShared& v : registry())
    if (a >= v.address && a + bytes <= v.address + v.bytes) return true;
  return false;
}

DynamicSharedMemory::DynamicSharedMemory(size_t bytes) : bytes_(bytes) {
  const size_t page = page_bytes();
  const size_t rounded = (bytes + 127) / 128 * 128;  // the buffer starts 128-byte aligned
  mapping_bytes_ = (rounded + page - 1) / page * page + page;
  void* mapping = mmap(nullptr, mapping_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  DG_CHECK(mapping != MAP_FAILED, "CUDA emulator: cannot map " << bytes << " bytes of dynamic shared memory: "
                                                               << std::strerror(errno));
  mapping_ = static_cast<char*>(mapping);
  char* guard = mapping_ + mapping_bytes_ - page;
  if (mprotect(guard, page, PROT_NONE) != 0) {
    const int err = errno;
    munmap(mapping_, mapping_bytes_);
    DG_THROW("CUDA emulator: cannot protect the dynamic shared memory guard page: " << std::strerror(err));
  }
  data_ = guard - rounded;
  g_dynamic = this;
}

DynamicSharedMemory::~DynamicSharedMemory() {
  if (g_dynamic == this) g_dynamic = nullptr;
  munmap(mapping_, mapping_bytes_);
}

void DynamicSharedMemory::poison_all() {
  std::memset(data_, kPoisonByte, bytes_);
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (const StaticShared& v : registry()) std::memset(v.address, kPoisonByte, v.bytes);
}

bool DynamicSharedMemory::in_guard_page(const void* address) const {
  const char* a = static_cast<const char*>(address);
  return a >= mapping_ + mapping_bytes_ - page_bytes() && a < mapping_ + mapping_bytes_;
}

}  // namespace dg::emu
