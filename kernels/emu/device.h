// The CUDA device dialect under the emulator: what kernels/dialect.cuh provides when kernels are
// compiled by g++ (DARTGOLF_CUDA_EMULATED). The CUDA headers compile as host C++ and define
// __global__, __device__, __shared__ ... as nothing; this header supplies the rest: the built-ins,
// __syncthreads, the warp collectives, atomics and the device-only math intrinsics.
// Static __shared__ declarations are turned into registered statics by the kernel-source
// preparation step (emu/source_rewrite.h); one that reaches the compiler unprepared is an error.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "emu/block_runner.h"
#include "emu/builtins.h"
#include "emu/shared_memory.h"

#undef __shared__
#define __shared__                                                                                          \
  static_assert(false, "static __shared__ in a file the CUDA emulator did not prepare: kernel sources must " \
                       "live in kernels/ or tests/kernels/ (see docs/cuda-emulator.md)");

namespace dg::emu {

enum class ShuffleMode : uint8_t { Idx, Up, Down, Xor };
enum class Vote : uint8_t { Ballot, Any, All };

uint64_t warp_shuffle(uint32_t mask, uint64_t bits, ShuffleMode mode, int lane_or_delta, int width);
uint32_t warp_vote(Vote kind, uint32_t mask, bool predicate);  // the ballot of the lanes in mask
void warp_sync(uint32_t mask);
int block_barrier(BarrierKind kind, int predicate);
[[noreturn]] void trap();

template <class T>
T shuffle(uint32_t mask, T value, ShuffleMode mode, int lane_or_delta, int width) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "warp shuffles move values of at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = warp_shuffle(mask, bits, mode, lane_or_delta, width);
  T result;
  std::memcpy(&result, &bits, sizeof(T));
  return result;
}

}  // namespace dg::emu

// ---- barriers and warp collectives ------------------------------------------------------------------

inline void __syncthreads() { dg::emu::block_barrier(dg::emu::BarrierKind::Sync, 0); }
inline int __syncthreads_count(int predicate) { return dg::emu::block_barrier(dg::emu::BarrierKind::Count, predicate); }
inline int __syncthreads_and(int predicate) { return dg::emu::block_barrier(dg::emu::BarrierKind::And, predicate); }
inline int __syncthreads_or(int predicate) { return dg::emu::block_barrier(dg::emu::BarrierKind::Or, predicate); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { dg::emu::warp_sync(mask); }

template <class T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize) {
  return dg::emu::shuffle(mask, var, dg::emu::ShuffleMode::Idx, src_lane, width);
}
template <class T>
T __shfl_up_sync(unsigned mask, T var, unsigned int delta, int width = warpSize) {
  return dg::emu::shuffle(mask, var, dg::emu::ShuffleMode::Up, static_cast<int>(delta), width);
}
template <class T>
T __shfl_down_sync(unsigned mask, T var, unsigned int delta, int width = warpSize) {
  return dg::emu::shuffle(mask, var, dg::emu::ShuffleMode::Down, static_cast<int>(delta), width);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize) {
  return dg::emu::shuffle(mask, var, dg::emu::ShuffleMode::Xor, lane_mask, width);
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  return dg::emu::warp_vote(dg::emu::Vote::Ballot, mask, predicate != 0);
}
inline int __any_sync(unsigned mask, int predicate) { return dg::emu::warp_vote(dg::emu::Vote::Any, mask, predicate != 0) != 0; }
inline int __all_sync(unsigned mask, int predicate) {
  return dg::emu::warp_vote(dg::emu::Vote::All, mask, predicate != 0) == mask;
}

// Fibers switch only at sync points, so memory is never seen half-written: fences are no-ops.
inline void __threadfence() {}
inline void __threadfence_block() {}
inline void __trap() { dg::emu::trap(); }
template <class T>
T __ldg(const T* address) {
  return *address;
}

// ---- atomics: plain read-modify-writes (no other fiber runs until this one reaches a sync point) ----

namespace dg::emu {
template <class T, class Update>
T read_modify_write(T* address, Update update) {
  const T old = *address;
  *address = update(old);
  return old;
}
}  // namespace dg::emu

#define DG_EMU_ATOMIC(name, new_value)                                                   \
  template <class T>                                                                      \
  T name(T* address, std::type_identity_t<T> value) {                                     \
    return dg::emu::read_modify_write(address, [value](T old) -> T { return new_value; }); \
  }
DG_EMU_ATOMIC(atomicAdd, old + value)
DG_EMU_ATOMIC(atomicSub, old - value)
DG_EMU_ATOMIC(atomicExch, value)
DG_EMU_ATOMIC(atomicMin, value < old ? value : old)
DG_EMU_ATOMIC(atomicMax, old < value ? value : old)
DG_EMU_ATOMIC(atomicAnd, old & value)
DG_EMU_ATOMIC(atomicOr, old | value)
DG_EMU_ATOMIC(atomicXor, old ^ value)
#undef DG_EMU_ATOMIC
template <class T>
T atomicCAS(T* address, std::type_identity_t<T> compare, std::type_identity_t<T> value) {
  return dg::emu::read_modify_write(address, [=](T old) { return old == compare ? value : old; });
}
inline unsigned atomicInc(unsigned* address, unsigned value) {
  return dg::emu::read_modify_write(address, [value](unsigned old) { return old >= value ? 0u : old + 1u; });
}
inline unsigned atomicDec(unsigned* address, unsigned value) {
  return dg::emu::read_modify_write(address,
                                    [value](unsigned old) { return (old == 0u || old > value) ? value : old - 1u; });
}

// ---- device-only math intrinsics (host libm: the fast GPU approximations are not reproduced) ----

inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __fmaf_rn(float x, float y, float z) { return fmaf(x, y, z); }
// CUDA never merges __fadd_rn or __fmul_rn into a multiply-add. g++ would, once they are inlined
// (C++ compiles with -ffp-contract=fast by default, and x86-64-v3 has FMA): the product and the
// sum's operands therefore pass through volatiles, which no contraction crosses.
inline float __fadd_rn(float x, float y) {
  volatile float a = x, b = y;
  return a + b;
}
inline float __fmul_rn(float x, float y) {
  volatile float product = x * y;
  return product;
}
inline float __saturatef(float x) { return x != x ? 0.0f : (x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x)); }
inline int __float2int_rn(float x) { return static_cast<int>(nearbyintf(x)); }
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline unsigned __float_as_uint(float x) { return std::bit_cast<unsigned>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline float __uint_as_float(unsigned x) { return std::bit_cast<float>(x); }
inline int __popc(unsigned x) { return std::popcount(x); }
inline int __popcll(unsigned long long x) { return std::popcount(x); }
inline int __clz(int x) { return std::countl_zero(static_cast<unsigned>(x)); }
inline int __clzll(long long x) { return std::countl_zero(static_cast<unsigned long long>(x)); }
inline int __ffs(int x) { return x == 0 ? 0 : std::countr_zero(static_cast<unsigned>(x)) + 1; }
inline int __ffsll(long long x) { return x == 0 ? 0 : std::countr_zero(static_cast<unsigned long long>(x)) + 1; }
// CUDA's min/max overloads (one type per call; mix types with a cast, as the emulator has no
// mixed-type overloads).
#define DG_EMU_MIN_MAX(T)                        \
  inline T min(T a, T b) { return b < a ? b : a; } \
  inline T max(T a, T b) { return a < b ? b : a; }
DG_EMU_MIN_MAX(int)
DG_EMU_MIN_MAX(unsigned)
DG_EMU_MIN_MAX(long)
DG_EMU_MIN_MAX(unsigned long)
DG_EMU_MIN_MAX(long long)
DG_EMU_MIN_MAX(unsigned long long)
#undef DG_EMU_MIN_MAX
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
