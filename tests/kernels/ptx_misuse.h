// Wrong uses of the dg::ptx wrappers and __trap, which the emulator reports (never run on a GPU).
#pragma once

namespace dg::test {

void ldmatrix_from_global_memory();   // row addresses in device (global) memory
void ldmatrix_misaligned();           // shared-memory rows 8 bytes off 16-byte alignment
void cp_async_into_global_memory();   // a destination that is not shared memory
void run_trap();                      // thread 5 calls __trap()

}  // namespace dg::test
