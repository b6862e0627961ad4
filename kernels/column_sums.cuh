// What the row-wise ops of ops_elementwise.cu, ops_dart.cu and ops_blocks.cu share: the mapping of
// a [rows, cols] matrix onto 32 × 8-thread blocks, and deterministic column sums (Σ over rows for
// every column: the gradients of per-feature parameters). Their warp-per-(row, head) kernels use
// warp_rows.cuh.
//
// Column sums never use float atomics (their order, hence their rounding, changes from run to
// run). Pass 1 (a kernel of the op, through sum_column_chunk) splits the rows into chunks fixed by
// the shape alone; each block sums one chunk of its 32 columns into partials[chunk]. Pass 2
// (finish_column_sums) adds the chunks' partials in chunk order. Same shape, same rounding: on every
// run, under every emulator schedule, on any GPU.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "dialect.cuh"
#include "grid.cuh"

namespace dg::cuda {

inline int64_t round_up_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---- the [rows, cols] tile mapping -----------------------------------------------------------------
// A block is one warp wide (threadIdx.x: 32 consecutive columns, a coalesced 128-byte segment per
// row) and 8 rows tall (threadIdx.y). A thread keeps one column across its row loop, so values per
// column (a scale, a mix weight) are loaded once.
inline constexpr int kTileCols = 32;
inline constexpr int kTileRows = 8;

inline dim3 tile_block() { return dim3(kTileCols, kTileRows); }

// The grid of an elementwise pass over [rows, cols]: up to 1024 column tiles and enough row tiles
// for about 2048 blocks in all (two waves on an H100); the kernels loop over whatever is left.
inline dim3 tile_grid(int64_t rows, int64_t cols) {
  int64_t gx = round_up_div(cols, kTileCols), gy = round_up_div(rows, kTileRows);
  if (gx > 1024) gx = 1024;
  if (gx < 1) gx = 1;
  const int64_t gy_max = 2048 / gx > 1 ? 2048 / gx : 1;
  if (gy > gy_max) gy = gy_max;
  if (gy < 1) gy = 1;
  return dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy));
}

__device__ inline int64_t tile_col() { return static_cast<int64_t>(blockIdx.x) * kTileCols + threadIdx.x; }
__device__ inline int64_t tile_col_stride() { return static_cast<int64_t>(gridDim.x) * kTileCols; }
__device__ inline int64_t tile_row() { return static_cast<int64_t>(blockIdx.y) * kTileRows + threadIdx.y; }
__device__ inline int64_t tile_row_stride() { return static_cast<int64_t>(gridDim.y) * kTileRows; }

// ---- deterministic column sums ---------------------------------------------------------------------
// The CudaBackend::scratch slot these ops take their partial sums from (matmul uses slots 0 and 1).
// Its contents live for one op call: every op launches on the backend's one stream, so the next op
// that takes the slot runs after the last kernel that read it.
inline constexpr int kReductionScratchSlot = 2;

// `sums` values per column (resid_mix's dmix has two: Σ g·x and Σ g·x0), chunks of at least 64
// rows and at most 256 chunks: enough blocks to fill a GPU when the rows are many (65 536 rows of
// 512 columns: 16 × 256 blocks), one chunk when they are few.
struct ColumnSums {
  int64_t rows = 0, cols = 0, sums = 1;
  int64_t rows_per_chunk = 1, chunks = 1;

  ColumnSums(int64_t rows_, int64_t cols_, int64_t sums_ = 1) : rows(rows_), cols(cols_), sums(sums_) {
    constexpr int64_t kMinChunkRows = 64, kMaxChunks = 256;
    rows_per_chunk = round_up_div(rows, kMaxChunks);
    if (rows_per_chunk < kMinChunkRows) rows_per_chunk = kMinChunkRows;
    chunks = rows < 1 ? 1 : round_up_div(rows, rows_per_chunk);
  }
  // Pass 1's grid (block: tile_block()): every column tile × every chunk.
  dim3 grid() const {
    return dim3(static_cast<unsigned>(cols < 1 ? 1 : round_up_div(cols, kTileCols)), static_cast<unsigned>(chunks));
  }
  // Floats of the partials buffer: [chunks, sums, cols].
  int64_t partial_count() const { return chunks * sums * cols; }
};

// Pass 1 inside an op's kernel (grid plan.grid(), block tile_block()): this thread's column, its
// chunk's rows, and `visit(r, c, acc)` adding row r's K contributions of column c to acc[0..K) (and
// doing the op's elementwise work on that element: every element is visited exactly once). The 8
// row phases are added in order and the chunk's sums land in partials[(chunk·K + k)·cols + c].
template <int K, class Visit>
__device__ void sum_column_chunk(const ColumnSums& plan, float* partials, Visit visit) {
  __shared__ float phase_sums[K][kTileRows][kTileCols];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kTileCols + threadIdx.x;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * plan.rows_per_chunk;
  const int64_t r1 = r0 + plan.rows_per_chunk < plan.rows ? r0 + plan.rows_per_chunk : plan.rows;
  float acc[K];
  for (int k = 0; k < K; ++k) acc[k] = 0.0f;
  if (c < plan.cols)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kTileRows) visit(r, c, acc);
  for (int k = 0; k < K; ++k) phase_sums[k][threadIdx.y][threadIdx.x] = acc[k];
  __syncthreads();
  if (threadIdx.y != 0 || c >= plan.cols) return;
  for (int k = 0; k < K; ++k) {
    float total = phase_sums[k][0][threadIdx.x];
    for (int y = 1; y < kTileRows; ++y) total += phase_sums[k][y][threadIdx.x];
    partials[(static_cast<int64_t>(blockIdx.y) * K + k) * plan.cols + c] = total;
  }
}

// Pass 2: out[k·cols + c] += factor · Σ_chunks partials[chunk, k, c], chunks in order (column_sums.cu).
void finish_column_sums(float* out, const float* partials, const ColumnSums& plan, float factor, cudaStream_t stream);

// Both passes for a matrix already in memory: out[c] += factor · Σ_r m[r, c] for m [rows, cols]
// (a bias gradient; per-(row, head) dot products summed over rows). `partials` holds
// ColumnSums(rows, cols).partial_count() floats. Nothing is launched when rows or cols is 0.
void add_column_sums(float* out, const float* m, int64_t rows, int64_t cols, float factor, float* partials,
                     cudaStream_t stream);

}  // namespace dg::cuda
