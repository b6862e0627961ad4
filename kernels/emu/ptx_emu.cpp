#include "emu/ptx_emu.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>

#include "core/error.h"
#include "emu/block_runner.h"
#include "emu/shared_memory.h"

namespace dg::emu {
namespace {

constexpr uint32_t kFullWarp = 0xffffffffu;

float bf16_to_float(uint32_t bits16) { return std::bit_cast<float>(bits16 << 16); }

// ---- mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 ----

struct MmaInput {
  uint32_t a[4];
  uint32_t b[2];
  float c[4];
};

// The PTX ISA layouts (see kernels/ptx.cuh): g = lane >> 2, t = lane % 4.
int a_row(int lane, int i) { return (lane >> 2) + 8 * ((i >> 1) & 1); }
int a_col(int lane, int i) { return 2 * (lane & 3) + (i & 1) + 8 * (i >> 2); }
int b_row(int lane, int i) { return 2 * (lane & 3) + (i & 1) + 8 * (i >> 1); }
int b_col(int lane, int) { return lane >> 2; }
int c_row(int lane, int i) { return (lane >> 2) + 8 * (i >> 1); }
int c_col(int lane, int i) { return 2 * (lane & 3) + (i & 1); }

void complete_mma(const void* const* inputs, void* const* outputs, uint32_t) {
  double a[16][16], b[16][8], c[16][8];
  for (int lane = 0; lane < 32; ++lane) {
    const MmaInput& in = *static_cast<const MmaInput*>(inputs[lane]);
    for (int i = 0; i < 8; ++i) a[a_row(lane, i)][a_col(lane, i)] = bf16_to_float(in.a[i / 2] >> (16 * (i & 1)) & 0xFFFFu);
    for (int i = 0; i < 4; ++i) b[b_row(lane, i)][b_col(lane, i)] = bf16_to_float(in.b[i / 2] >> (16 * (i & 1)) & 0xFFFFu);
    for (int i = 0; i < 4; ++i) c[c_row(lane, i)][c_col(lane, i)] = in.c[i];
  }
  // Products of bf16 values are exact; the sum is taken in double and rounded once to fp32 (the
  // tensor core's internal accumulation order and width are not specified, see docs).
  for (int lane = 0; lane < 32; ++lane) {
    float* d = static_cast<float*>(outputs[lane]);
    for (int i = 0; i < 4; ++i) {
      const int row = c_row(lane, i), col = c_col(lane, i);
      double sum = c[row][col];
      for (int k = 0; k < 16; ++k) sum += a[row][k] * b[k][col];
      d[i] = static_cast<float>(sum);
    }
  }
}

const WarpOp kMma{"mma.sync.m16n8k16.bf16", complete_mma};

// ---- ldmatrix.sync.aligned.m8n8.{x1,x2,x4}{,.trans}.shared.b16 ----

template <int Matrices, bool Transposed>
void complete_ldmatrix(const void* const* inputs, void* const* outputs, uint32_t) {
  const char* rows[32];
  for (int lane = 0; lane < 8 * Matrices; ++lane) {
    rows[lane] = *static_cast<const char* const*>(inputs[lane]);
    const bool aligned = reinterpret_cast<uintptr_t>(rows[lane]) % 16 == 0;
    if (!aligned || !is_shared_memory(rows[lane], 16)) {
      EmuThread& th = this_thread("ldmatrix");
      DG_THROW("CUDA emulator: " << this_block("ldmatrix").where(th) << ": ldmatrix.x" << Matrices
                                 << (Transposed ? ".trans" : "") << ": the row address " << static_cast<const void*>(rows[lane])
                                 << " given by lane " << lane << " is "
                                 << (aligned ? "not in shared memory" : "not 16-byte aligned"));
    }
  }
  auto element = [&rows](int matrix, int row, int col) {
    uint16_t value;
    std::memcpy(&value, rows[8 * matrix + row] + 2 * col, sizeof value);
    return uint32_t{value};
  };
  for (int lane = 0; lane < 32; ++lane) {
    uint32_t* r = static_cast<uint32_t*>(outputs[lane]);
    const int g = lane >> 2, t = lane & 3;
    for (int m = 0; m < Matrices; ++m)
      r[m] = Transposed ? element(m, 2 * t, g) | element(m, 2 * t + 1, g) << 16
                        : element(m, g, 2 * t) | element(m, g, 2 * t + 1) << 16;
  }
}

const WarpOp kLdmatrix[2][3] = {
    {{"ldmatrix.x1", complete_ldmatrix<1, false>},
     {"ldmatrix.x2", complete_ldmatrix<2, false>},
     {"ldmatrix.x4", complete_ldmatrix<4, false>}},
    {{"ldmatrix.x1.trans", complete_ldmatrix<1, true>},
     {"ldmatrix.x2.trans", complete_ldmatrix<2, true>},
     {"ldmatrix.x4.trans", complete_ldmatrix<4, true>}},
};

void land(const AsyncCopy& copy) {
  std::memcpy(copy.dst, copy.src, copy.src_bytes);
  std::memset(static_cast<char*>(copy.dst) + copy.src_bytes, 0, copy.bytes - copy.src_bytes);
}

}  // namespace

void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], const float (&c)[4]) {
  this_thread(kMma.name);
  MmaInput input;
  std::memcpy(input.a, a, sizeof input.a);
  std::memcpy(input.b, b, sizeof input.b);
  std::memcpy(input.c, c, sizeof input.c);
  float output[4];
  this_block(kMma.name).warp_collective(kMma, kFullWarp, &input, output);
  std::memcpy(d, output, sizeof output);
}

void ldmatrix(int matrices, bool transposed, uint32_t* registers, const void* row) {
  const WarpOp& op = kLdmatrix[transposed ? 1 : 0][matrices == 1 ? 0 : (matrices == 2 ? 1 : 2)];
  this_thread(op.name);
  uint32_t output[4];
  this_block(op.name).warp_collective(op, kFullWarp, &row, output);
  std::memcpy(registers, output, sizeof(uint32_t) * static_cast<size_t>(matrices));
}

void cp_async(const char* name, void* shared, const void* global, uint32_t bytes, uint32_t src_bytes) {
  EmuThread& th = this_thread(name);
  BlockRunner& block = this_block(name);
  DG_CHECK(src_bytes <= bytes, "CUDA emulator: " << block.where(th) << ": " << name << " with " << src_bytes
                                                 << " source bytes; it copies at most " << bytes);
  DG_CHECK(reinterpret_cast<uintptr_t>(shared) % bytes == 0 && reinterpret_cast<uintptr_t>(global) % bytes == 0,
           "CUDA emulator: " << block.where(th) << ": " << name << " needs " << bytes << "-byte aligned addresses, got "
                             << shared << " (shared) and " << global << " (global)");
  DG_CHECK(is_shared_memory(shared, bytes),
           "CUDA emulator: " << block.where(th) << ": " << name << " destination " << shared << " is not shared memory");
  DG_CHECK(src_bytes == 0 || !is_shared_memory(global, src_bytes),
           "CUDA emulator: " << block.where(th) << ": " << name << " source " << global
                             << " is shared memory; cp.async copies from global memory");
  std::memset(shared, kPoisonByte, bytes);  // nobody may read it before the wait
  th.async_copies.push_back({shared, global, bytes, src_bytes, th.committed_groups});
}

void cp_async_commit() { ++this_thread("cp.async.commit_group").committed_groups; }

void cp_async_wait(int pending_groups) {
  EmuThread& th = this_thread("cp.async.wait_group");
  const uint64_t keep = static_cast<uint64_t>(pending_groups);
  if (th.committed_groups <= keep) return;
  const uint64_t first_pending = th.committed_groups - keep;  // groups below this one must land now
  auto landed = [first_pending](const AsyncCopy& copy) {
    if (copy.group >= first_pending) return false;
    land(copy);
    return true;
  };
  th.async_copies.erase(std::remove_if(th.async_copies.begin(), th.async_copies.end(), landed), th.async_copies.end());
}

void cp_async_wait_all() {
  cp_async_commit();
  cp_async_wait(0);
}

}  // namespace dg::emu
