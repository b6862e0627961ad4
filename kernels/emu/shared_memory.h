// Shared memory under the emulator. One block runs at a time in the process, so each static
// __shared__ variable is one static object and the dynamic buffer is one allocation per launch;
// both are filled with 0xFF bytes (a NaN in every float format) before every block, so a read of
// something no thread of this block wrote shows up.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dg::emu {

inline constexpr unsigned char kPoisonByte = 0xFF;

// Called once for each static __shared__ variable: the emulator's kernel-source preparation step
// (kernels/emu/source_rewrite.h) puts the call after every declaration. The variable is poisoned
// now (the first block to reach it) and before every later block.
bool register_static_shared(void* address, size_t bytes, const char* name, const char* file, int line);

// The dynamic shared memory of the running block (DG_DYNAMIC_SHARED); 128-byte aligned, ending
// at a guard page, so running past the launch's dynamic_shared_bytes faults.
void* dynamic_shared_memory();

// True when [address, address + bytes) lies inside one static __shared__ variable or inside the
// dynamic buffer of the running launch (what ldmatrix and cp.async require).
bool is_shared_memory(const void* address, size_t bytes);

// The launcher's side: the dynamic buffer of one launch, mapped with a guard page after it.
class DynamicSharedMemory {
 public:
  explicit DynamicSharedMemory(size_t bytes);
  ~DynamicSharedMemory();
  DynamicSharedMemory(const DynamicSharedMemory&) = delete;
  DynamicSharedMemory& operator=(const DynamicSharedMemory&) = delete;

  // Fills every static __shared__ variable and this buffer with poison: done before each block.
  void poison_all();

  // Where an address lies relative to the buffer's guard page, for the fault report.
  bool in_guard_page(const void* address) const;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  char* mapping_ = nullptr;
  size_t mapping_bytes_ = 0;
  char* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace dg::emu
