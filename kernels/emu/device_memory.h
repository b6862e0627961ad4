// "Device" memory under the emulator is host memory with a registry of live allocations, so
// copies, memsets and frees are checked against what was allocated. New allocations are filled
// with 0xFF (NaN) bytes, as a GPU's fresh memory holds garbage. In bounds-check mode
// (emu/control.h) each allocation also ends at a guard page, so a kernel running past it faults
// and the fault report names the allocation.
#pragma once

#include <cstddef>
#include <string>

namespace dg::emu {

// Returns null for 0 bytes; throws dg::Error when the memory cannot be had.
void* device_allocate(size_t bytes);
// False (with `why`) for a pointer that is not the start of a live allocation.
bool device_free(void* address, std::string* why);
// "" when [address, address + bytes) lies inside one live allocation; otherwise why not, e.g.
// "destination 0x... + 400 bytes runs 16 bytes past the end of a 384-byte allocation at 0x...".
std::string check_device_range(const void* address, size_t bytes, const char* role);
bool is_device_address(const void* address);

// For the fault report (may run in a signal handler: it allocates nothing and never blocks).
// Writes a description when `address` is in the guard page of an allocation; returns false otherwise.
bool describe_guard_hit(const void* address, char* out, size_t out_bytes);

}  // namespace dg::emu
