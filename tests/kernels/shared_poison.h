// What a block sees in shared memory it has not written (the emulator fills it with 0xFF bytes
// before every block; on a GPU it is whatever was there: never run these on a GPU).
#pragma once

#include <cstdint>
#include <vector>

namespace dg::test {

// Per block: the bits of a static __shared__ word read before any thread of the block wrote it
// (each block then writes its own index there, for the next block to find if it were not poisoned).
std::vector<uint32_t> stale_static_shared(int blocks);
// The same through dynamic shared memory.
std::vector<uint32_t> stale_dynamic_shared(int blocks);

}  // namespace dg::test
