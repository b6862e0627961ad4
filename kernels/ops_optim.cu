// The CUDA backend's optimizer ops and QAT's fake quantization (backend.h; CPU reference in
// src/backend/cpu/ops_optim.cpp and ops_dart.cpp): Adam, Muon's Newton–Schulz (its products through
// matmul, i.e. dg::cuda::gemm), and the PR's per-row int8 fake quant, bit-identical to the CPU.
// Deterministic throughout: reductions in a fixed order (block_reduce.cuh), integer atomics only.
#include <algorithm>
#include <climits>
#include <cmath>
#include <utility>

#include "backend/cpu/ops_optim.h"  // the Newton–Schulz coefficients and eps
#include "backend/op_checks.h"
#include "backend/shape_checks.h"
#include "block_reduce.cuh"
#include "cuda_backend_impl.h"
#include "cuda_check.cuh"
#include "dialect.cuh"
#include "grid.cuh"

namespace dg::cuda {

using namespace shape_checks;

namespace {

// Scratch slot of CudaBackend::scratch used by this file (matmul uses slots 0 and 1): Newton–Schulz's
// partial sums of squares and fake quant's first-non-finite index, each used within one op call.
constexpr int kScratchSlot = 2;

// ---- Adam -------------------------------------------------------------------------------------------

// The CPU's loop body, term for term. The scalars come from the host in fp32, computed in double
// as torch does. Both compilers may contract b1·m + (1−b1)·g into one FMA (g++ does so for the
// CPU reference at -march=x86-64-v3, nvcc by default), so CPU and GPU agree to about an ulp.
// A faster version would load float4s when the views are 16-byte aligned.
__global__ void adam_kernel(float* param, const float* grad, float* m, float* v, int64_t n, float step_size,
                            float bias_correction2_sqrt, float b1, float b2, float epsilon, float one_minus_b1,
                            float one_minus_b2) {
  for (int64_t i = global_index(); i < n; i += global_stride()) {
    const float g = grad[i];
    const float mi = b1 * m[i] + one_minus_b1 * g;
    const float vi = b2 * v[i] + one_minus_b2 * g * g;
    m[i] = mi;
    v[i] = vi;
    const float denom = sqrtf(vi) / bias_correction2_sqrt + epsilon;
    param[i] -= step_size * mi / denom;
  }
}

// ---- Newton–Schulz ------------------------------------------------------------------------------------

constexpr int kNormThreads = 256;
constexpr int kMaxNormBlocks = 256;

// Σ g² in double, as the CPU's sum_squares: block b writes its partial sum to partials[b]
// (grid-stride, then a fixed-order block reduction).
__global__ void sum_squares_partials_kernel(const float* g, int64_t n, double* partials) {
  __shared__ double scratch[33];
  double acc = 0.0;
  for (int64_t i = global_index(); i < n; i += global_stride()) acc += static_cast<double>(g[i]) * g[i];
  acc = block_allreduce(acc, SumOp{}, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

// ‖G‖_F + eps as the CPU rounds it: float(sqrt(double Σ)) + float(eps). Every block of a launch
// sums the same partials in the same order (lane l takes partials l, l + 32, ..., then a fixed
// butterfly), so they all divide by the same bits. Call from every thread; warp 0 does the work.
__device__ float frobenius_denominator(const double* partials, int parts, float eps, float* shared_denom) {
  if (threadIdx.x < 32 && threadIdx.y == 0) {
    double total = 0.0;
    for (int p = static_cast<int>(threadIdx.x); p < parts; p += 32) total += partials[p];
    total = warp_allreduce(total, SumOp{});
    if (threadIdx.x == 0) *shared_denom = static_cast<float>(sqrt(total)) + eps;
  }
  __syncthreads();
  return *shared_denom;
}

// x = g / denom (no transpose).
__global__ void ns_normalise_kernel(float* x, const float* g, int64_t n, const double* partials, int parts,
                                    float eps) {
  __shared__ float denom_slot;
  const float denom = frobenius_denominator(partials, parts, eps, &denom_slot);
  for (int64_t i = global_index(); i < n; i += global_stride()) x[i] = g[i] / denom;
}

// dst [src_cols, src_rows] = srcᵀ (divided by the Frobenius denominator when normalising), through
// a 32×33 shared tile so that both the read and the write are coalesced. Block (32, 8).
constexpr int kTile = 32, kTileRows = 8;

template <bool kNormalise>
__global__ void ns_transpose_kernel(float* dst, const float* src, int64_t src_rows, int64_t src_cols,
                                    const double* partials, int parts, float eps) {
  __shared__ float tile[kTile][kTile + 1];
  __shared__ float denom_slot;
  const float denom = kNormalise ? frobenius_denominator(partials, parts, eps, &denom_slot) : 1.0f;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kTile, col0 = static_cast<int64_t>(blockIdx.x) * kTile;
  for (int r = threadIdx.y; r < kTile; r += kTileRows) {
    const int64_t i = row0 + r, j = col0 + threadIdx.x;
    if (i < src_rows && j < src_cols) tile[r][threadIdx.x] = src[i * src_cols + j];
  }
  __syncthreads();
  for (int r = threadIdx.y; r < kTile; r += kTileRows) {
    const int64_t j = col0 + r, i = row0 + threadIdx.x;  // dst row j, column i
    if (i < src_rows && j < src_cols) {
      const float value = tile[threadIdx.x][r];
      dst[j * src_rows + i] = kNormalise ? value / denom : value;
    }
  }
}

// The elementwise part of one step, the CPU's two loops in one launch: poly += b·gram over [r, r],
// x_next = a·x over [r, c] (r ≤ c, so the first range lies inside the second).
__global__ void ns_combine_kernel(float* poly, const float* gram, int64_t rr, float b, float* x_next, const float* x,
                                  int64_t rc, float a) {
  for (int64_t i = global_index(); i < rc; i += global_stride()) {
    if (i < rr) poly[i] += b * gram[i];
    x_next[i] = a * x[i];
  }
}

// ---- fake quantization --------------------------------------------------------------------------------

constexpr int kQuantThreads = 256;
constexpr float kLevels = 127.0f;

// The smallest index of a non-finite element (ULLONG_MAX when none): a min, so the integer atomic
// gives the same answer in any order.
__global__ void first_nonfinite_kernel(const float* w, int64_t n, unsigned long long* first) {
  __shared__ unsigned long long scratch[33];
  unsigned long long found = ULLONG_MAX;
  for (int64_t i = global_index(); i < n; i += global_stride()) {
    if ((__float_as_uint(w[i]) & 0x7f800000u) == 0x7f800000u) {  // all exponent bits set: inf or NaN
      found = static_cast<unsigned long long>(i);  // a thread's indices ascend: its first is its least
      break;
    }
  }
  found = block_allreduce(found, MinOp{}, scratch);
  if (threadIdx.x == 0 && found != ULLONG_MAX) atomicMin(first, found);
}

// torch's lerp (start + w·(end − start) when |w| < 0.5, else end − (end − start)·(1 − w)) with
// each product and its sum fused into one rounding: how torch.quantile's lerp runs on CUDA (nvcc
// contracts it), how torch 2's vectorised CPU lerp runs (an explicit fmadd), and how g++ compiles
// the CPU reference's torch_lerp for x86-64-v3. See the report on the CPU build's contraction.
__device__ inline float torch_lerp(float start, float end, float weight) {
  const float diff = end - start;
  if (fabsf(weight) < 0.5f) return fmaf(weight, diff, start);
  return fmaf(-diff, 1.0f - weight, end);
}

// One row's fake quantization once its clip is known, the CPU's expressions and comparisons (the
// ternaries are std::min/max/clamp's, so signed zeros come out the same). q·scale − w is exact
// whenever |w| ≤ 2²²·scale, which the clip guarantees, so the PR's three separate roundings and an
// FMA-contracted evaluation agree; __fmul_rn/__fadd_rn spell out the PR's.
__device__ void quantize_row(float* out, const float* w, int64_t n, float clip) {
  const float floor_scale = static_cast<float>(1.0 / 127.0);
  const float ratio = clip / kLevels;
  const float scale = ratio < floor_scale ? floor_scale : ratio;
  for (int64_t c = threadIdx.x; c < n; c += blockDim.x) {
    const float value = w[c];
    const float upper = clip < value ? clip : value;
    const float clipped = upper < -clip ? -clip : upper;
    float level = rintf(clipped / scale);  // round half to even, as std::nearbyint and torch.round
    level = level < -kLevels ? -kLevels : (kLevels < level ? kLevels : level);
    const float quantized = __fmul_rn(level, scale);
    out[c] = __fadd_rn(value, __fadd_rn(quantized, -value));
  }
}

// Where torch.quantile's two order statistics sit: ranks below ≤ above of |w| ascending, with the
// lerp weight, computed on the host in float exactly as the CPU (and torch) compute them.
struct QuantileRanks {
  int64_t below, above;
  float weight;
};

// Rows whose ranks fall among the two largest |w|: every row narrower than 640,798 columns. There
// rank = q·(n−1) in float gives below = n − 2, above = n − 1 for 2 ≤ n ≤ 601,961, both 0 for n = 1,
// and from 601,962 on sometimes rounds to the integer n − 2 (below = above = n − 2, weight 0); it
// first drops below n − 2 at 640,798 (checked over every n). One pass keeps each thread's two
// largest |w| (ties counted twice, as a sort does), merged by a fixed butterfly and then warp by
// warp. One block per row.
__global__ void fake_quant_top2_kernel(float* out, const float* w, int64_t cols, QuantileRanks ranks) {
  __shared__ float warp_first[32];
  __shared__ float warp_second[32];
  __shared__ float clip_slot;
  const int64_t row = blockIdx.x;
  const float* src = w + row * cols;
  float first = -INFINITY, second = -INFINITY;  // |w| ≥ 0, so −inf is below everything
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float a = fabsf(src[c]);
    if (a > first) {
      second = first;
      first = a;
    } else if (a > second) {
      second = a;
    }
  }
  // Merging (a1 ≥ a2) with (b1 ≥ b2): the top is max(a1, b1), the runner-up max(min(a1, b1), max(a2, b2)).
  // Symmetric in a and b, so both lanes of a butterfly pair get the same pair.
  auto merge = [](float& f, float& s, float of, float os) {
    const float low_top = f < of ? f : of;
    const float high_second = s < os ? os : s;
    f = f < of ? of : f;
    s = low_top < high_second ? high_second : low_top;
  };
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float of = __shfl_xor_sync(0xffffffffu, first, offset);
    const float os = __shfl_xor_sync(0xffffffffu, second, offset);
    merge(first, second, of, os);
  }
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
  if (lane == 0) {
    warp_first[warp] = first;
    warp_second[warp] = second;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (unsigned k = 1; k < (blockDim.x >> 5); ++k) merge(first, second, warp_first[k], warp_second[k]);
    // Rank n − 1 is the largest, n − 2 the runner-up.
    const float low = ranks.below == cols - 1 ? first : second;
    const float high = ranks.above == ranks.below ? low : (ranks.above == cols - 1 ? first : second);
    clip_slot = torch_lerp(low, high, ranks.weight);
  }
  __syncthreads();  // every read of the row above is done before any write (out may be w)
  quantize_row(out + row * cols, src, cols, clip_slot);
}

// The k-th smallest |w| of a row (0-based, duplicates counted), exactly: a radix select on the bit
// patterns of |w| (non-negative floats order as their unsigned bits), 8 bits per pass from the top.
// Counts are integer shared-memory atomics, so the histogram is the same in any order.
__device__ float select_abs(const float* w, int64_t n, int64_t k, unsigned* histogram, unsigned* state) {
  unsigned prefix = 0, prefix_mask = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += blockDim.x) histogram[b] = 0;
    __syncthreads();
    for (int64_t c = threadIdx.x; c < n; c += blockDim.x) {
      const unsigned bits = __float_as_uint(fabsf(w[c]));
      if ((bits & prefix_mask) == prefix) atomicAdd(&histogram[(bits >> shift) & 255u], 1u);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      // The digit whose bucket holds the k-th of the elements that still match the prefix.
      int64_t before = 0;
      unsigned digit = 0;
      while (k >= before + histogram[digit]) before += histogram[digit++];
      state[0] = prefix | (digit << shift);
      state[1] = static_cast<unsigned>(k - before);
    }
    __syncthreads();
    prefix = state[0];
    prefix_mask |= 255u << shift;
    k = state[1];
  }
  return __uint_as_float(prefix);
}

// Rows of 640,798 columns and more, where the quantile's ranks can leave the top two: both order
// statistics by radix select. One block per row.
__global__ void fake_quant_select_kernel(float* out, const float* w, int64_t cols, QuantileRanks ranks) {
  __shared__ unsigned histogram[256];
  __shared__ unsigned state[2];
  const int64_t row = blockIdx.x;
  const float* src = w + row * cols;
  const float low = select_abs(src, cols, ranks.below, histogram, state);
  const float high = ranks.above == ranks.below ? low : select_abs(src, cols, ranks.above, histogram, state);
  const float clip = torch_lerp(low, high, ranks.weight);
  __syncthreads();  // every read of the row above is done before any write (out may be w)
  quantize_row(out + row * cols, src, cols, clip);
}

}  // namespace

// ---- Adam ---------------------------------------------------------------------------------------------

void CudaBackend::adam_update(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                              const AdamHyper& hyper) {
  check_adam_update(Device::CUDA, param, grad, m, v, hyper);
  const int64_t n = param.numel();
  if (n == 0) return;
  // The scalars exactly as the CPU reference computes them (in double, as torch does on the host).
  const double beta1 = hyper.beta1, beta2 = hyper.beta2;
  const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(hyper.step));
  const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(hyper.step));
  const float step_size = static_cast<float>(static_cast<double>(hyper.lr) / bias_correction1);
  const float bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  launch<adam_kernel>(grid_for(n), kThreads, 0, stream(), param.f32(), grad.f32(), m.f32(), v.f32(), n, step_size,
                      bias_correction2_sqrt, static_cast<float>(beta1), static_cast<float>(beta2),
                      static_cast<float>(static_cast<double>(hyper.eps)), static_cast<float>(1.0 - beta1),
                      static_cast<float>(1.0 - beta2));
}

// ---- Newton–Schulz --------------------------------------------------------------------------------------

void CudaBackend::newton_schulz(const Tensor& out, const Tensor& g, int steps, const Tensor& workspace) {
  check_newton_schulz(Device::CUDA, out, g, steps, workspace);
  const int64_t rows = g.rows(), cols = g.dim(-1);
  const int64_t n = rows * cols;
  if (n == 0) return;

  // The CPU's sequence: X = G/(‖G‖_F + eps) (transposed when rows > cols, so X is [r, c], r ≤ c),
  // then per step A = X·Xᵀ, B = c·A·A, B += b·A, X' = a·X, X' += B·X; transposed back at the end.
  const bool transposed = rows > cols;
  const int64_t r = transposed ? cols : rows, c = transposed ? rows : cols;
  float* x = workspace.f32();
  float* x_next = x + r * c;
  float* gram = x_next + r * c;
  float* poly = gram + r * r;
  const float eps = static_cast<float>(cpu::kNewtonSchulzEps);

  const int parts = static_cast<int>(std::min<int64_t>((n + kNormThreads * 8 - 1) / (kNormThreads * 8), kMaxNormBlocks));
  auto* partials = static_cast<double*>(scratch(kScratchSlot, parts * static_cast<int64_t>(sizeof(double))));
  launch<sum_squares_partials_kernel>(dim3(static_cast<unsigned>(parts)), kNormThreads, 0, stream(), g.f32(), n,
                                      partials);
  const auto tiles = [](int64_t rows_, int64_t cols_) {
    DG_CHECK((rows_ + kTile - 1) / kTile <= 65535, "newton_schulz: " << rows_ << " rows exceed the transpose grid");
    return dim3(static_cast<unsigned>((cols_ + kTile - 1) / kTile), static_cast<unsigned>((rows_ + kTile - 1) / kTile));
  };
  if (transposed) {
    launch<ns_transpose_kernel<true>>(tiles(rows, cols), dim3(kTile, kTileRows), 0, stream(), x, g.f32(), rows, cols,
                                      partials, parts, eps);
  } else {
    launch<ns_normalise_kernel>(grid_for(n), kThreads, 0, stream(), x, g.f32(), n, partials, parts, eps);
  }

  // The products go through matmul (dg::cuda::gemm on this stream): at fp32 the CPU's products
  // (same shapes and transposes), under precision=bf16 the matmul rule (docs/backend.md: bf16
  // operands, fresh products rounded to bf16), as train_gpt.py runs zeropower_via_newtonschulz5 in bf16.
  const float a = static_cast<float>(cpu::kNewtonSchulzA), b = static_cast<float>(cpu::kNewtonSchulzB),
              cc = static_cast<float>(cpu::kNewtonSchulzC);
  const auto matrix = [](float* data, int64_t m, int64_t n) { return Tensor::f32(data, {m, n}, Device::CUDA); };
  for (int s = 0; s < steps; ++s) {
    matmul(matrix(gram, r, r), matrix(x, r, c), false, matrix(x, r, c), true, 1.0f, 0.0f);           // A = X·Xᵀ
    matmul(matrix(poly, r, r), matrix(gram, r, r), false, matrix(gram, r, r), false, cc, 0.0f);      // B = c·A·A
    launch<ns_combine_kernel>(grid_for(r * c), kThreads, 0, stream(), poly, gram, r * r, b, x_next, x, r * c, a);
    matmul(matrix(x_next, r, c), matrix(poly, r, r), false, matrix(x, r, c), false, 1.0f, 1.0f);     // X' += B·X
    std::swap(x, x_next);
  }

  if (transposed) {
    launch<ns_transpose_kernel<false>>(tiles(r, c), dim3(kTile, kTileRows), 0, stream(), out.f32(), x, r, c,
                                       static_cast<const double*>(nullptr), 0, 0.0f);
  } else {
    DG_CUDA_CHECK(cudaMemcpyAsync(out.data, x, static_cast<size_t>(n) * sizeof(float), cudaMemcpyDeviceToDevice,
                                  stream()));
  }
}

// ---- fake quantization ------------------------------------------------------------------------------------

void CudaBackend::fake_quant_rows_forward(const Tensor& out, const Tensor& w) {
  const char* op = "fake_quant_rows_forward";
  check_fake_quant_rows_forward(Device::CUDA, out, w);
  const int64_t n = w.numel();
  if (n == 0) return;

  // The CPU refuses non-finite weights before writing anything; so does this, which costs a pass
  // over w and a wait for the stream (8 bytes back). A faster version would record the index on
  // the device and report it at the next synchronisation.
  auto* first_bad = static_cast<unsigned long long*>(scratch(kScratchSlot, sizeof(unsigned long long)));
  DG_CUDA_CHECK(cudaMemsetAsync(first_bad, 0xFF, sizeof(unsigned long long), stream()));
  // At most 256 blocks (two per SM of an H100, 16+ elements per thread on big tensors): a
  // bandwidth-bound pass needs no more, and fewer threads keep the emulated tests quick.
  launch<first_nonfinite_kernel>(dim3(std::min(grid_for(n).x, 256u)), kThreads, 0, stream(), w.f32(), n, first_bad);
  unsigned long long bad = 0;
  DG_CUDA_CHECK(cudaMemcpyAsync(&bad, first_bad, sizeof bad, cudaMemcpyDeviceToHost, stream()));
  DG_CUDA_CHECK(cudaStreamSynchronize(stream()));
  if (bad != ULLONG_MAX) {
    float value = 0.0f;
    DG_CUDA_CHECK(cudaMemcpy(&value, w.f32() + bad, sizeof value, cudaMemcpyDeviceToHost));
    DG_THROW(op << ": w[" << bad << "] = " << value
                << " is not finite: fake quantization needs finite weights (did training diverge?)");
  }

  // torch.quantile's ranks, in float as the CPU's quantile_abs computes them (q is a float32 tensor).
  const int64_t rows = w.dim(0), cols = w.dim(1);
  constexpr double kClipQuantile = 99.99984 / 100.0;  // the PR's INT8_CLIP_Q
  const float rank = static_cast<float>(kClipQuantile) * static_cast<float>(cols - 1);
  QuantileRanks ranks;
  ranks.below = static_cast<int64_t>(rank);
  ranks.above = static_cast<int64_t>(std::ceil(rank));
  ranks.weight = rank - static_cast<float>(ranks.below);
  DG_CHECK(rows <= INT_MAX, op << ": w " << describe(w) << " has too many rows for one launch");
  if (ranks.below >= cols - 2) {
    launch<fake_quant_top2_kernel>(dim3(static_cast<unsigned>(rows)), kQuantThreads, 0, stream(), out.f32(), w.f32(),
                                   cols, ranks);
  } else {
    DG_CHECK(cols <= UINT_MAX, op << ": w " << describe(w) << " has rows too long to count in 32 bits");
    launch<fake_quant_select_kernel>(dim3(static_cast<unsigned>(rows)), kQuantThreads, 0, stream(), out.f32(),
                                     w.f32(), cols, ranks);
  }
}

}  // namespace dg::cuda
