// The dg::ptx wrappers driven by one warp on fixed inputs, for the emulator tests (against the
// PTX ISA layouts and a double-precision reference) and the GPU test (the same probes on the
// hardware, compared with their emulation). bf16 values travel as their 16-bit patterns.
#pragma once

#include <cstdint>
#include <vector>

namespace dg::test {

// D = A·B + C with fragments built by the kernel itself from the PTX ISA formulas:
// a [16][16] row-major, b_nk [8][16] (B is 16×8 stored column by column: b_nk[n][k] = B[k][n]),
// c [16][8]; returns D [16][8].
std::vector<float> mma_from_isa_fragments(const std::vector<uint16_t>& a, const std::vector<uint16_t>& b_nk,
                                          const std::vector<float>& c);

// The same product with fragments loaded from shared memory by ldmatrix: A by ldmatrix.x4, B by
// ldmatrix.x2 from b [8][16] ([n][k], as a linear layer's weight) or by ldmatrix.x2.trans from
// b [16][8] ([k][n]) when b_is_k_major.
std::vector<float> mma_from_ldmatrix(const std::vector<uint16_t>& a, const std::vector<uint16_t>& b, bool b_is_k_major,
                                     const std::vector<float>& c);

// ldmatrix.x{matrices}{.trans} of tile [4][8][8] (matrix, row, column), rows 48 bytes apart in
// shared memory; returns the registers, [lane][matrix] (32 × matrices).
std::vector<uint32_t> ldmatrix_registers(const std::vector<uint16_t>& tile, int matrices, bool transposed);

// cp.async probe (emulator only: it reads destinations before the wait, a race on a GPU). Thread
// i copies 16 bytes of group0[4i..4i+3] and then of group1[...] into shared memory, committing a
// group after each; returns, per thread, the first word of each destination at four moments:
// [i][0..1] right after issuing, [i][2..3] after cp.async.wait_group 1, [i][4..5] after wait_group 0,
// [i][6..7] words 1 and 3 of a zero-filling copy of 4 source bytes, and after cp.async.wait_all
// [i][8] a 4-byte copy of group1[4i+3] and [i][9] the second word of an 8-byte copy of group1[4i..].
std::vector<uint32_t> cp_async_snapshots(const std::vector<uint32_t>& group0, const std::vector<uint32_t>& group1);

}  // namespace dg::test
