// The column sums of column_sums.cuh: pass 2, and both passes over a matrix already in memory.
#include "column_sums.cuh"

namespace dg::cuda {
namespace {

// One thread per output: its chunks in order, so the sum's rounding depends on the shape alone.
// (Up to 256 dependent adds per thread: latency-bound when the outputs are few. A warp per output
// summing its chunks by a fixed tree would be faster, and as deterministic.)
__global__ void finish_column_sums_kernel(float* out, const float* partials, int64_t chunks, int64_t count,
                                          float factor) {
  for (int64_t o = global_index(); o < count; o += global_stride()) {
    float total = partials[o];
    for (int64_t chunk = 1; chunk < chunks; ++chunk) total += partials[chunk * count + o];
    out[o] += factor * total;
  }
}

__global__ void matrix_column_chunks_kernel(ColumnSums plan, float* partials, const float* m) {
  sum_column_chunk<1>(plan, partials, [&](int64_t r, int64_t c, float* acc) { acc[0] += m[r * plan.cols + c]; });
}

}  // namespace

void finish_column_sums(float* out, const float* partials, const ColumnSums& plan, float factor,
                        cudaStream_t stream) {
  const int64_t count = plan.sums * plan.cols;
  if (count == 0) return;
  launch<finish_column_sums_kernel>(grid_for(count), kThreads, 0, stream, out, partials, plan.chunks, count, factor);
}

void add_column_sums(float* out, const float* m, int64_t rows, int64_t cols, float factor, float* partials,
                     cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  const ColumnSums plan(rows, cols);
  launch<matrix_column_chunks_kernel>(plan.grid(), tile_block(), 0, stream, plan, partials, m);
  finish_column_sums(out, partials, plan, factor, stream);
}

}  // namespace dg::cuda
