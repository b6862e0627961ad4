// The emulated twins of kernels/ptx.cuh (same names and signatures): mma.sync and ldmatrix are
// warp collectives that gather every lane's fragment per the PTX ISA layout; cp.async poisons its
// destination at issue and copies when the issuing thread waits for the copy's group.
#pragma once

#include <cstdint>

namespace dg::emu {
void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], const float (&c)[4]);
void ldmatrix(int matrices, bool transposed, uint32_t* registers, const void* row);
void cp_async(const char* name, void* shared, const void* global, uint32_t bytes, uint32_t src_bytes);
void cp_async_commit();
void cp_async_wait(int pending_groups);
void cp_async_wait_all();
}  // namespace dg::emu

namespace dg::ptx {

inline void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], const float (&c)[4]) {
  emu::mma_m16n8k16_bf16(d, a, b, c);
}
inline void ldmatrix_x1(uint32_t (&r)[1], const void* row) { emu::ldmatrix(1, false, r, row); }
inline void ldmatrix_x2(uint32_t (&r)[2], const void* row) { emu::ldmatrix(2, false, r, row); }
inline void ldmatrix_x4(uint32_t (&r)[4], const void* row) { emu::ldmatrix(4, false, r, row); }
inline void ldmatrix_x1_trans(uint32_t (&r)[1], const void* row) { emu::ldmatrix(1, true, r, row); }
inline void ldmatrix_x2_trans(uint32_t (&r)[2], const void* row) { emu::ldmatrix(2, true, r, row); }
inline void ldmatrix_x4_trans(uint32_t (&r)[4], const void* row) { emu::ldmatrix(4, true, r, row); }
inline void cp_async_4(void* shared, const void* global) { emu::cp_async("cp.async.ca 4", shared, global, 4, 4); }
inline void cp_async_8(void* shared, const void* global) { emu::cp_async("cp.async.ca 8", shared, global, 8, 8); }
inline void cp_async_16(void* shared, const void* global) { emu::cp_async("cp.async.cg 16", shared, global, 16, 16); }
inline void cp_async_16_zfill(void* shared, const void* global, int src_bytes) {
  emu::cp_async("cp.async.cg 16 (zero fill)", shared, global, 16, static_cast<uint32_t>(src_bytes));
}
inline void cp_async_commit() { emu::cp_async_commit(); }
template <int N>
void cp_async_wait() {
  static_assert(N >= 0, "cp.async.wait_group takes a count of groups");
  emu::cp_async_wait(N);
}
inline void cp_async_wait_all() { emu::cp_async_wait_all(); }

}  // namespace dg::ptx
