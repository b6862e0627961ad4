#include "ptx_probes.h"

#include "device_buffer.cuh"
#include "dialect.cuh"
#include "ptx.cuh"

namespace dg::test {
namespace {

uint32_t __device__ pack(uint16_t lo, uint16_t hi) { return uint32_t{lo} | uint32_t{hi} << 16; }

// Fragments written the way the PTX ISA states them ("Matrix Fragments for mma.m16n8k16 with
// floating point type"), independently of the emulator's implementation.
__global__ void mma_isa_kernel(const uint16_t* a, const uint16_t* b_nk, const float* c, float* d) {
  const int lane = threadIdx.x, group_id = lane >> 2, thread_in_group = lane % 4;
  uint16_t av[8], bv[4];
  for (int i = 0; i < 8; ++i) {
    const int row = (i < 2 || (i >= 4 && i < 6)) ? group_id : group_id + 8;
    const int col = i < 4 ? thread_in_group * 2 + (i & 0x1) : thread_in_group * 2 + (i & 0x1) + 8;
    av[i] = a[row * 16 + col];
  }
  for (int i = 0; i < 4; ++i) {
    const int row = i < 2 ? thread_in_group * 2 + (i & 0x1) : thread_in_group * 2 + (i & 0x1) + 8;  // k
    const int col = group_id;                                                                      // n
    bv[i] = b_nk[col * 16 + row];
  }
  const uint32_t af[4] = {pack(av[0], av[1]), pack(av[2], av[3]), pack(av[4], av[5]), pack(av[6], av[7])};
  const uint32_t bf[2] = {pack(bv[0], bv[1]), pack(bv[2], bv[3])};
  float cf[4], df[4];
  for (int i = 0; i < 4; ++i) cf[i] = c[(i < 2 ? group_id : group_id + 8) * 8 + thread_in_group * 2 + (i & 0x1)];
  dg::ptx::mma_m16n8k16_bf16(df, af, bf, cf);
  for (int i = 0; i < 4; ++i) d[(i < 2 ? group_id : group_id + 8) * 8 + thread_in_group * 2 + (i & 0x1)] = df[i];
}

constexpr int kPitch = 24;  // bf16 elements between shared-memory rows: 48 bytes, 16-byte aligned

__global__ void mma_ldmatrix_kernel(const uint16_t* a, const uint16_t* b, bool b_is_k_major, const float* c, float* d) {
  __shared__ __align__(16) uint16_t a_tile[16 * kPitch];
  __shared__ __align__(16) uint16_t b_tile[16 * kPitch];
  const int lane = threadIdx.x, group_id = lane >> 2, thread_in_group = lane % 4;
  for (int i = lane; i < 256; i += 32) a_tile[(i / 16) * kPitch + i % 16] = a[i];
  for (int i = lane; i < 128; i += 32) {
    if (b_is_k_major)
      b_tile[(i / 8) * kPitch + i % 8] = b[i];  // [16 k][8 n]
    else
      b_tile[(i / 16) * kPitch + i % 16] = b[i];  // [8 n][16 k]
  }
  __syncwarp();
  uint32_t af[4], bf[2];
  dg::ptx::ldmatrix_x4(af, &a_tile[(lane % 16) * kPitch + (lane / 16) * 8]);
  if (b_is_k_major)
    dg::ptx::ldmatrix_x2_trans(bf, &b_tile[(lane % 16) * kPitch]);  // lanes 0-15: rows k 0-15
  else
    dg::ptx::ldmatrix_x2(bf, &b_tile[(lane % 8) * kPitch + ((lane / 8) % 2) * 8]);  // rows n 0-7, k 0 / 8
  float cf[4], df[4];
  for (int i = 0; i < 4; ++i) cf[i] = c[(i < 2 ? group_id : group_id + 8) * 8 + thread_in_group * 2 + (i & 0x1)];
  dg::ptx::mma_m16n8k16_bf16(df, af, bf, cf);
  for (int i = 0; i < 4; ++i) d[(i < 2 ? group_id : group_id + 8) * 8 + thread_in_group * 2 + (i & 0x1)] = df[i];
}

__global__ void ldmatrix_kernel(const uint16_t* tile, int matrices, bool transposed, uint32_t* registers) {
  __shared__ __align__(16) uint16_t smem[32 * kPitch];
  const int lane = threadIdx.x;
  for (int i = lane; i < 256; i += 32) smem[(i / 8) * kPitch + i % 8] = tile[i];  // row i/8 = 8·matrix + row
  __syncwarp();
  const uint16_t* row = &smem[lane * kPitch];  // lane 8m + r: row r of matrix m
  uint32_t r1[1] = {0}, r2[2] = {0, 0}, r4[4] = {0, 0, 0, 0};
  if (matrices == 1) transposed ? dg::ptx::ldmatrix_x1_trans(r1, row) : dg::ptx::ldmatrix_x1(r1, row);
  if (matrices == 2) transposed ? dg::ptx::ldmatrix_x2_trans(r2, row) : dg::ptx::ldmatrix_x2(r2, row);
  if (matrices == 4) transposed ? dg::ptx::ldmatrix_x4_trans(r4, row) : dg::ptx::ldmatrix_x4(r4, row);
  const uint32_t* r = matrices == 1 ? r1 : (matrices == 2 ? r2 : r4);
  for (int m = 0; m < matrices; ++m) registers[lane * matrices + m] = r[m];
}

__global__ void cp_async_kernel(const uint32_t* group0, const uint32_t* group1, uint32_t* snapshots) {
  __shared__ __align__(16) uint32_t first[32 * 4];
  __shared__ __align__(16) uint32_t second[32 * 4];
  __shared__ __align__(16) uint32_t partial[32 * 4];
  __shared__ __align__(16) uint32_t small[32 * 4];
  const int i = threadIdx.x;
  uint32_t* out = snapshots + i * 10;
  dg::ptx::cp_async_16(&first[4 * i], &group0[4 * i]);
  dg::ptx::cp_async_commit();
  dg::ptx::cp_async_16(&second[4 * i], &group1[4 * i]);
  dg::ptx::cp_async_commit();
  out[0] = first[4 * i];
  out[1] = second[4 * i];
  dg::ptx::cp_async_wait<1>();
  out[2] = first[4 * i];
  out[3] = second[4 * i];
  dg::ptx::cp_async_wait<0>();
  out[4] = first[4 * i];
  out[5] = second[4 * i];
  dg::ptx::cp_async_16_zfill(&partial[4 * i], &group0[4 * i], 4);
  dg::ptx::cp_async_4(&small[4 * i], &group1[4 * i + 3]);
  dg::ptx::cp_async_8(&small[4 * i + 2], &group1[4 * i]);
  dg::ptx::cp_async_wait_all();
  out[6] = partial[4 * i + 1];
  out[7] = partial[4 * i + 3];
  out[8] = small[4 * i];
  out[9] = small[4 * i + 3];
}

}  // namespace

std::vector<float> mma_from_isa_fragments(const std::vector<uint16_t>& a, const std::vector<uint16_t>& b_nk,
                                          const std::vector<float>& c) {
  DeviceBuffer<uint16_t> d_a(a), d_b(b_nk);
  DeviceBuffer<float> d_c(c), d_d(128);
  dg::cuda::launch<mma_isa_kernel>(1, 32, 0, nullptr, d_a.get(), d_b.get(), d_c.get(), d_d.get());
  return d_d.to_host();
}

std::vector<float> mma_from_ldmatrix(const std::vector<uint16_t>& a, const std::vector<uint16_t>& b, bool b_is_k_major,
                                     const std::vector<float>& c) {
  DeviceBuffer<uint16_t> d_a(a), d_b(b);
  DeviceBuffer<float> d_c(c), d_d(128);
  dg::cuda::launch<mma_ldmatrix_kernel>(1, 32, 0, nullptr, d_a.get(), d_b.get(), b_is_k_major, d_c.get(), d_d.get());
  return d_d.to_host();
}

std::vector<uint32_t> ldmatrix_registers(const std::vector<uint16_t>& tile, int matrices, bool transposed) {
  DG_CHECK(matrices == 1 || matrices == 2 || matrices == 4, "ldmatrix_registers: 1, 2 or 4 matrices");
  DeviceBuffer<uint16_t> d_tile(tile);
  DeviceBuffer<uint32_t> d_registers(static_cast<size_t>(32 * matrices));
  dg::cuda::launch<ldmatrix_kernel>(1, 32, 0, nullptr, d_tile.get(), matrices, transposed, d_registers.get());
  return d_registers.to_host();
}

std::vector<uint32_t> cp_async_snapshots(const std::vector<uint32_t>& group0, const std::vector<uint32_t>& group1) {
  DeviceBuffer<uint32_t> d_group0(group0), d_group1(group1), d_snapshots(32 * 10);
  dg::cuda::launch<cp_async_kernel>(1, 32, 0, nullptr, d_group0.get(), d_group1.get(), d_snapshots.get());
  return d_snapshots.to_host();
}

}  // namespace dg::test
