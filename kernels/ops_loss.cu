// The CUDA backend's embedding and logit softcap + cross-entropy (backend.h; CPU reference in
// src/backend/cpu/ops_elementwise.cpp and ops_loss.cpp). Everything here is deterministic without
// atomics: the embedding gradient sums each table row's tokens in token order (bit-identical to
// the CPU), and the cross-entropy reductions run one block per row in a fixed order
// (block_reduce.cuh).
#include <algorithm>
#include <climits>

#include "backend/op_checks.h"
#include "backend/shape_checks.h"
#include "block_reduce.cuh"
#include "cuda_backend_impl.h"
#include "dialect.cuh"
#include "grid.cuh"

namespace dg::cuda {

using namespace shape_checks;

namespace {

// ---- embedding ------------------------------------------------------------------------------------

constexpr int kGatherThreads = 128;

// out[n, :] = table[ids[n], :]: a block per token row (grid-stride over rows), threads along the
// row, so both the table read and the out write are coalesced.
__global__ void embedding_forward_kernel(float* out, const float* table, const int32_t* ids, int64_t count,
                                         int64_t dim) {
  for (int64_t n = blockIdx.x; n < count; n += gridDim.x) {
    const float* src = table + static_cast<int64_t>(ids[n]) * dim;
    float* dst = out + n * dim;
    for (int64_t c = threadIdx.x; c < dim; c += blockDim.x) dst[c] = src[c];
  }
}

// dtable[v, c] += Σ over tokens n with ids[n] = v of dout[n, c], added one token at a time in token
// order starting from dtable's value: the CPU's exact sequence of roundings, so the result is
// bit-identical to it and independent of the schedule. Block (v, chunk) owns table row v and the
// columns [chunk·blockDim, (chunk+1)·blockDim), one column per thread, its running sum in a register.
// The block walks the ids in tiles of blockDim: each warp ballots which of its 32 ids equal v, and
// the matching token numbers are compacted, in order, into a shared list that every thread then
// walks for its column.
//
// Cost at the challenge (V = 1024, D = 512, 65,536 tokens per GPU per micro-step): 1024 blocks of
// 512 threads, each reading all 256 KiB of ids (from L2) in 128 tiles, one barrier per tile without
// a match; the gradient rows themselves are read once in total. The serial part is the most frequent
// token's chain of adds (a few thousand rows at Zipf rates), issued in batches of 8 loads so the
// latency overlaps. A faster version would split long chains across blocks and add the pieces in a
// fixed order (still deterministic, but no longer the CPU's order bit for bit).
constexpr int kScatterMaxThreads = 512;
constexpr int kBatch = 8;

__global__ void embedding_backward_kernel(float* dtable, const float* dout, const int32_t* ids, int64_t count,
                                          int64_t dim) {
  __shared__ unsigned warp_masks[kScatterMaxThreads / 32];
  __shared__ int matches[kScatterMaxThreads];
  const int row = static_cast<int>(blockIdx.x);
  const int64_t c = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x;
  const bool owns_column = c < dim;
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  float acc = owns_column ? dtable[static_cast<int64_t>(row) * dim + c] : 0.0f;

  for (int64_t tile = 0; tile < count; tile += blockDim.x) {
    const int64_t n = tile + threadIdx.x;
    const bool match = n < count && ids[n] == row;
    const unsigned mask = __ballot_sync(0xffffffffu, match);
    if (lane == 0) warp_masks[warp] = mask;
    // No match in the whole tile (the common case): nothing was read from the list, go on.
    if (!__syncthreads_or(match)) continue;
    // Compact the tile's matches in token order: this warp's slot starts after the earlier warps'.
    int base = 0;
    for (unsigned w = 0; w < warp; ++w) base += __popc(warp_masks[w]);
    if (match) matches[base + __popc(mask & ((1u << lane) - 1u))] = static_cast<int>(threadIdx.x);
    int total = base;
    for (unsigned w = warp; w < warps; ++w) total += __popc(warp_masks[w]);
    __syncthreads();
    if (owns_column) {
      const float* col = dout + tile * dim + c;
      int k = 0;
      for (; k + kBatch <= total; k += kBatch) {  // the loads of a batch are independent: all in flight
        float v[kBatch];  // constant trip counts: both loops are unrolled, v stays in registers
        for (int b = 0; b < kBatch; ++b) v[b] = col[static_cast<int64_t>(matches[k + b]) * dim];
        for (int b = 0; b < kBatch; ++b) acc += v[b];  // in token order
      }
      for (; k < total; ++k) acc += col[static_cast<int64_t>(matches[k]) * dim];
    }
    // No barrier needed here: the next tile writes warp_masks only after this tile's second barrier
    // (every read of them came before it), and the list only after its own first barrier, which no
    // thread reaches before it has finished reading this list.
  }
  if (owns_column) dtable[static_cast<int64_t>(row) * dim + c] = acc;
}

// ---- softcap + cross-entropy ------------------------------------------------------------------------

// One block per row of logits (V = 1024 at the challenge: 4 values per thread).
constexpr int kRowThreads = 256;

// capped = cap·tanh(z/cap), rounded as the CPU's softcap_row: z/cap, tanh, then the product, which
// __fmul_rn keeps from being fused into a following subtraction (the CPU stores capped first).
__device__ inline float softcap(float z, float cap) { return __fmul_rn(cap, tanhf(z / cap)); }

struct RowStats {
  float max;  // max_j capped[j] (NaN values ignored, as the CPU's running max ignores them)
  float sum;  // Σ_j e^(capped[j] − max): NaN when any capped value is NaN
};

// The row's max and Σ exp, as the CPU's softcap_row + exp_shift_sum (capped values are recomputed
// from z in each pass: bit-identical each time).
__device__ RowStats row_stats(const float* z, int64_t vocab, float cap, float* scratch) {
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) m = fmaxf(m, softcap(z[j], cap));
  m = block_allreduce(m, MaxOp{}, scratch);
  float s = 0.0f;
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) s += expf(softcap(z[j], cap) - m);
  s = block_allreduce(s, SumOp{}, scratch);
  return {m, s};
}

// losses[n] = max + log(Σ e^(capped − max)) − capped[target], the CPU's order of operations.
// A faster version would keep the row in registers (one tanh per element instead of two) and fuse
// the backward into the same pass, as llm.c's fused classifier does.
__global__ void softcap_ce_forward_kernel(float* losses, const float* logits, const int32_t* targets, int64_t vocab,
                                          float cap) {
  __shared__ float scratch[33];
  const float* z = logits + static_cast<int64_t>(blockIdx.x) * vocab;
  const RowStats stats = row_stats(z, vocab, cap, scratch);
  if (threadIdx.x == 0) losses[blockIdx.x] = stats.max + logf(stats.sum) - softcap(z[targets[blockIdx.x]], cap);
}

// dlogits[n, j] += weight·(softmax_j − [j = target])·(1 − tanh²): first the softmax term for every
// j, then the target's −weight·(1 − tanh²), two roundings as on the CPU.
__global__ void softcap_ce_backward_kernel(float* dlogits, const float* logits, const int32_t* targets, int64_t vocab,
                                           float cap, float weight) {
  __shared__ float scratch[33];
  const int64_t row = blockIdx.x;
  const float* z = logits + row * vocab;
  float* d = dlogits + row * vocab;
  const RowStats stats = row_stats(z, vocab, cap, scratch);
  const float inv_sum = 1.0f / stats.sum;
  const int64_t target = targets[row];
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) {
    const float t = tanhf(z[j] / cap);
    const float p = expf(__fmul_rn(cap, t) - stats.max);
    float g = d[j] + weight * (p * inv_sum) * (1.0f - t * t);
    if (j == target) g -= weight * (1.0f - t * t);
    d[j] = g;
  }
}

}  // namespace

void CudaBackend::embedding_forward(const Tensor& out, const Tensor& table, const Tensor& ids) {
  check_embedding_forward(Device::CUDA, out, table, ids);
  // The ids are device memory: their range is checked where the shards are read, not here.
  const int64_t count = ids.numel(), dim = table.dim(1);
  if (count == 0 || dim == 0) return;
  launch<embedding_forward_kernel>(dim3(static_cast<unsigned>(std::min<int64_t>(count, kMaxBlocks))), kGatherThreads,
                                   0, stream(), out.f32(), table.f32(), ids.i32(), count, dim);
}

void CudaBackend::embedding_backward(const Tensor& dtable, const Tensor& dout, const Tensor& ids) {
  const char* op = "embedding_backward";
  check_embedding_backward(Device::CUDA, dtable, dout, ids);
  // The ids are device memory: their range is checked where the shards are read, not here.
  const int64_t count = ids.numel(), vocab = dtable.dim(0), dim = dtable.dim(1);
  if (count == 0 || vocab == 0 || dim == 0) return;
  DG_CHECK(vocab <= INT_MAX, op << ": dtable " << describe(dtable) << " has more rows than int32 ids can name");
  const int64_t threads = std::min<int64_t>((dim + 31) / 32 * 32, kScatterMaxThreads);
  const int64_t chunks = (dim + threads - 1) / threads;
  DG_CHECK(chunks <= 65535, op << ": dtable " << describe(dtable) << " is too wide (" << dim << " columns)");
  launch<embedding_backward_kernel>(dim3(static_cast<unsigned>(vocab), static_cast<unsigned>(chunks)),
                                    dim3(static_cast<unsigned>(threads)), 0, stream(), dtable.f32(), dout.f32(),
                                    ids.i32(), count, dim);
}

void CudaBackend::softcap_ce_forward(const Tensor& losses, const Tensor& logits, const Tensor& targets, float cap) {
  const char* op = "softcap_ce_forward";
  check_softcap_ce_forward(Device::CUDA, losses, logits, targets, cap);
  // The targets are device memory: their range is checked where the shards are read, not here.
  const int64_t rows = logits.rows();
  if (rows == 0) return;
  DG_CHECK(rows <= INT_MAX, op << ": logits " << describe(logits) << " has too many rows for one launch");
  launch<softcap_ce_forward_kernel>(dim3(static_cast<unsigned>(rows)), kRowThreads, 0, stream(), losses.f32(),
                                    logits.f32(), targets.i32(), logits.dim(-1), cap);
}

void CudaBackend::softcap_ce_backward(const Tensor& dlogits, const Tensor& logits, const Tensor& targets, float cap,
                                      float weight) {
  const char* op = "softcap_ce_backward";
  check_softcap_ce_backward(Device::CUDA, dlogits, logits, targets, cap);
  // The targets are device memory: their range is checked where the shards are read, not here.
  const int64_t rows = logits.rows();
  if (rows == 0) return;
  DG_CHECK(rows <= INT_MAX, op << ": logits " << describe(logits) << " has too many rows for one launch");
  launch<softcap_ce_backward_kernel>(dim3(static_cast<unsigned>(rows)), kRowThreads, 0, stream(), dlogits.f32(),
                                     logits.f32(), targets.i32(), logits.dim(-1), cap, weight);
}

}  // namespace dg::cuda
