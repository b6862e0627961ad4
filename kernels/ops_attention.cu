// Causal scaled-dot-product attention with grouped KV heads, tiled as flash attention: no T×T
// matrix exists anywhere, only 64×64 tiles of it in shared memory. fp32 throughout (CUDA cores),
// against the CPU reference of src/backend/cpu/ops_attention.cpp.
//
// Layout. q, out, dout [B, T, H, hd]; k, v [B, T, K, hd]; query head h reads KV head h / (H/K);
// lse [B, H, T]. Tiles are 64 positions × HD floats, HD the head dim rounded up to 32, 64 or 128
// (dims past hd are loaded as zeros and never stored, so any hd ≤ 128 works, at the cost of the
// padding). A block is 256 threads seen as a 16 × 16 grid (ty, tx):
//   - a score tile S [64 queries][64 keys] is held in registers, thread (ty, tx) owning rows
//     ty·4 .. ty·4+3 and keys tx, tx+16, tx+32, tx+48 (interleaved so that the 16 key rows a
//     half-warp reads from shared memory fall in distinct banks);
//   - an accumulator [64 rows][HD] (out, dQ; or dK, dV with rows = keys) is held in registers,
//     thread (ty, tx) owning rows ty·4 .. ty·4+3 and HD/16 head dims (float4 or float2 vectors
//     at (c·16 + tx)·vec);
//   - a row's softmax statistics are reduced over the 16 lanes (one half-warp) that share ty.
// Shared rows are padded by 4 floats, which keeps float4 alignment and spreads a tile's rows over
// the banks.
//
// Forward (attention_forward_kernel): one block per (query tile, batch, head), longest rows first.
// Q stays in shared memory; for each KV tile up to the diagonal: S = scale·Q·Kᵀ, causal mask,
// online softmax (running row max m and sum l; the accumulator is rescaled by e^(m_old − m_new)),
// P to shared memory, O += P·V. At the end out = O / l and lse = m + log l.
//
// Backward, deterministic without atomics, in three kernels:
//   1. attention_delta_kernel: delta = rowsum(dout ⊙ out), one warp per (b, t, h), into a scratch
//      buffer [B, H, T] (the backend's scratch slot 2; 4·B·H·T bytes, the size of lse).
//   2. attention_dkv_kernel: one block per (KV tile, batch, KV head). It loops over the H/K query
//      heads of its group and over every query tile that sees its keys, recomputes
//      P = e^(scale·Q·Kᵀ − lse) and dP = dO·Vᵀ, and accumulates dV += Pᵀ·dO and
//      dK += scale·dSᵀ·Q with dS = P ⊙ (dP − delta) in registers, in a fixed order. dk and dv
//      are then added to once (the op adds into its gradients).
//   3. attention_dq_kernel: one block per (query tile, batch, head); loops over the KV tiles up to
//      the diagonal, recomputes P, dP and dS, and accumulates dQ += scale·dS·K.
//   The price of determinism is recompute: S, P and dP are computed by both kernels 2 and 3, so the
//   backward does 7 tile products (S, dP, dV, dK; S, dP, dQ) where an atomic-dQ flash backward does
//   5, i.e. 40% more arithmetic, and it reads K, V in kernel 3 and Q, dO in kernel 2 again.
//
// Memory: besides its arguments the forward uses nothing; the backward uses the delta scratch
// (4·B·H·T bytes). Shared memory per block (dynamic; above 48 KiB through allow_dynamic_shared):
//   forward  (Q, K, V tiles + P):            HD 32: 45,056 B   HD 64: 69,632 B   HD 128: 118,784 B
//   backward (Q, dO, K, V tiles + P/dS + 2 rows of 64 floats, both kernels):
//                                            HD 32: 54,784 B   HD 64: 87,552 B   HD 128: 153,088 B
//
// Determinism: every sum (dot products over d, row statistics over the half-warp by a fixed xor
// butterfly, accumulations over keys and over query tiles) runs in an order fixed by the code,
// never by the schedule; no atomics.
//
// What a tensor-core version (dg::ptx mma.sync m16n8k16, bf16 inputs, fp32 accumulators) would
// change: tiles stored in shared memory as bf16 (half the bytes, so 128-row query tiles fit) and
// fed to mma with ldmatrix (Q and dO as A fragments; K as B from its [key][dim] rows, V as B through
// ldmatrix .trans), each warp owning 16 query rows so that the row max and sum are reduced over the
// 4 lanes of a quad; S and dP would stay in the mma accumulator layout and P would be repacked into
// bf16 A fragments in registers instead of going through shared memory; K/V tiles would be
// prefetched with cp.async double buffering; for GQA one block could serve all H/K query heads of a
// KV head and load each K/V tile once. bf16 operands put the result about 1e-2 relative from this
// fp32 reference, so the fp32 path would stay for precision=fp32 and the tests' tight tolerances.
// Other performance left here: the KV tiles are loaded synchronously (no overlap of loads and
// math), the forward reloads K/V per query head of a group, and the backward recompute above.
#include <climits>
#include <cmath>

#include "backend/op_checks.h"
#include "backend/shape_checks.h"
#include "cuda_backend_impl.h"
#include "dialect.cuh"
#include "grid.cuh"
#include "warp_rows.cuh"

#ifdef DARTGOLF_CUDA_EMULATED
#define DG_ATTENTION_UNROLL
#else
#define DG_ATTENTION_UNROLL _Pragma("unroll")
#endif

namespace dg::cuda {

using namespace shape_checks;

namespace {

constexpr int kTile = 64;                    // query rows per tile, and keys per tile
constexpr int kSide = 16;                    // the 16 × 16 thread grid
constexpr int kBlockThreads = kSide * kSide;
constexpr int kPer = kTile / kSide;          // rows (and keys) per thread: 4
constexpr int kPad = 4;                      // floats of padding per shared row
constexpr int kScoreStride = kTile + kPad;   // the P / dS tile [64][68]
constexpr int64_t kMaxHeadDim = 128;
constexpr size_t kDefaultSharedLimit = 48 * 1024;

// Shapes and strides of one call, passed by value.
struct AttentionDims {
  int64_t batch, seq;
  int heads, kv_heads, head_dim;  // head_dim: the tensors' hd (≤ the kernel's HD)
  int64_t tiles;                  // ⌈seq / 64⌉
  float scale;
  __device__ int group() const { return heads / kv_heads; }
  __device__ int64_t q_pitch() const { return static_cast<int64_t>(heads) * head_dim; }  // floats between positions
  __device__ int64_t kv_pitch() const { return static_cast<int64_t>(kv_heads) * head_dim; }
  // Position 0 of (b, head) in a [B, T, heads, hd] tensor.
  __device__ int64_t q_offset(int64_t b, int h) const { return (b * seq * heads + h) * head_dim; }
  __device__ int64_t kv_offset(int64_t b, int kvh) const { return (b * seq * kv_heads + kvh) * head_dim; }
  __device__ int64_t lse_offset(int64_t b, int h) const { return (b * heads + h) * seq; }
};

// The block of a forward or dQ launch: query tile qt of head h of sequence b (its K/V head kvh),
// blocks ordered so the longest rows (most KV tiles) start first; and this thread's place (ty, tx)
// in the tile's kSide × kSide grid.
struct QueryTileBlock {
  int64_t qt, b;
  int h, kvh, ty, tx;
};
__device__ inline QueryTileBlock query_tile_block(const AttentionDims& s) {
  const int64_t heads_total = s.batch * s.heads;
  const int64_t bh = blockIdx.x % heads_total;
  const int h = static_cast<int>(bh % s.heads);
  return {s.tiles - 1 - blockIdx.x / heads_total, bh / s.heads, h, h / s.group(),
          static_cast<int>(threadIdx.x) / kSide, static_cast<int>(threadIdx.x) % kSide};
}

template <int HD>
struct Layout {
  static constexpr int kStride = HD + kPad;       // shared row stride of a [64][HD] tile
  static constexpr int kDims = HD / kSide;        // head dims a thread owns in an accumulator
  static constexpr int kVec = kDims < 4 ? kDims : 4;
  static constexpr int kVecs = kDims / kVec;
  static constexpr int kTileFloats = kTile * kStride;
  // First head dim of the thread's c-th vector.
  __device__ static int dim(int tx, int c) { return (c * kSide + tx) * kVec; }
  static size_t forward_shared_bytes() { return (3 * kTileFloats + kTile * kScoreStride) * sizeof(float); }
  static size_t backward_shared_bytes() { return (4 * kTileFloats + kTile * kScoreStride + 2 * kTile) * sizeof(float); }
};

template <int N>
__device__ void load_vec(float (&out)[N], const float* p);
template <>
__device__ void load_vec<4>(float (&out)[4], const float* p) {
  const float4 v = *reinterpret_cast<const float4*>(p);
  out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
}
template <>
__device__ void load_vec<2>(float (&out)[2], const float* p) {
  const float2 v = *reinterpret_cast<const float2*>(p);
  out[0] = v.x, out[1] = v.y;
}

// The head dims of a shared tile row that thread column tx owns.
template <int HD>
__device__ void load_dims(float (&out)[Layout<HD>::kDims], const float* row, int tx) {
  using L = Layout<HD>;
  DG_ATTENTION_UNROLL
  for (int c = 0; c < L::kVecs; ++c) {
    float v[L::kVec];
    load_vec<L::kVec>(v, row + L::dim(tx, c));
    DG_ATTENTION_UNROLL
    for (int e = 0; e < L::kVec; ++e) out[c * L::kVec + e] = v[e];
  }
}

// Positions row0 .. row0+63 of one head (src: its position 0; positions `pitch` floats apart) into
// tile [64][HD + 4]; positions past seq and dims past head_dim read as 0. Consecutive threads read
// consecutive floats of a position.
template <int HD>
__device__ void load_tile(float* tile, const float* src, int64_t row0, int64_t seq, int64_t pitch, int head_dim) {
  for (int idx = threadIdx.x; idx < kTile * HD; idx += kBlockThreads) {
    const int r = idx / HD, d = idx % HD;
    const int64_t t = row0 + r;
    tile[r * Layout<HD>::kStride + d] = (t < seq && d < head_dim) ? src[t * pitch + d] : 0.0f;
  }
}

// values[row0 .. row0+63] (one (b, h) row of lse or delta), 0 past seq.
__device__ void load_row_values(float* dst, const float* values, int64_t row0, int64_t seq) {
  for (int r = threadIdx.x; r < kTile; r += kBlockThreads) dst[r] = row0 + r < seq ? values[row0 + r] : 0.0f;
}

// acc[i][j] = Σ_d a[ty·4 + i][d] · b[tx + 16·j][d]: a score-layout product of two [64][HD] tiles
// (S = Q·Kᵀ, dP = dO·Vᵀ), summed over d in order.
template <int HD>
__device__ void product_nt(float (&acc)[kPer][kPer], const float* a, const float* b, int ty, int tx) {
  constexpr int S = Layout<HD>::kStride;
  DG_ATTENTION_UNROLL
  for (int i = 0; i < kPer; ++i) {
    DG_ATTENTION_UNROLL
    for (int j = 0; j < kPer; ++j) acc[i][j] = 0.0f;
  }
  for (int d = 0; d < HD; d += 4) {
    float av[kPer][4], bv[kPer][4];
    DG_ATTENTION_UNROLL
    for (int i = 0; i < kPer; ++i) load_vec<4>(av[i], a + (ty * kPer + i) * S + d);
    DG_ATTENTION_UNROLL
    for (int j = 0; j < kPer; ++j) load_vec<4>(bv[j], b + (tx + kSide * j) * S + d);
    DG_ATTENTION_UNROLL
    for (int i = 0; i < kPer; ++i) {
      DG_ATTENTION_UNROLL
      for (int j = 0; j < kPer; ++j) {
        DG_ATTENTION_UNROLL
        for (int e = 0; e < 4; ++e) acc[i][j] += av[i][e] * bv[j][e];
      }
    }
  }
}

// acc += sum, where sum is one tile's product, summed from 0: accumulators that run over many tiles
// then carry about (64 + tiles) roundings instead of 64·tiles (blocked summation, as accurate as
// the CPU's per-block sgemm with beta = 1).
template <int HD>
__device__ void add_tile(float (&acc)[kPer][Layout<HD>::kDims], const float (&sum)[kPer][Layout<HD>::kDims]) {
  DG_ATTENTION_UNROLL
  for (int i = 0; i < kPer; ++i) {
    DG_ATTENTION_UNROLL
    for (int c = 0; c < Layout<HD>::kDims; ++c) acc[i][c] += sum[i][c];
  }
}

// acc[i][·] += Σ_j p[ty·4 + i][j] · x[j][dims of tx]: O += P·V, dQ += dS·K.
template <int HD>
__device__ void product_nn(float (&acc)[kPer][Layout<HD>::kDims], const float* p, const float* x, int ty, int tx) {
  using L = Layout<HD>;
  float sum[kPer][L::kDims] = {};
  for (int j = 0; j < kTile; j += 4) {
    float pv[kPer][4];
    DG_ATTENTION_UNROLL
    for (int i = 0; i < kPer; ++i) load_vec<4>(pv[i], p + (ty * kPer + i) * kScoreStride + j);
    DG_ATTENTION_UNROLL
    for (int e = 0; e < 4; ++e) {
      float xv[L::kDims];
      load_dims<HD>(xv, x + (j + e) * L::kStride, tx);
      DG_ATTENTION_UNROLL
      for (int i = 0; i < kPer; ++i) {
        DG_ATTENTION_UNROLL
        for (int c = 0; c < L::kDims; ++c) sum[i][c] += pv[i][e] * xv[c];
      }
    }
  }
  add_tile<HD>(acc, sum);
}

// acc[i][·] += Σ_r p[r][ty·4 + i] · x[r][dims of tx]: dV += Pᵀ·dO, dK += dSᵀ·Q (rows = keys).
template <int HD>
__device__ void product_tn(float (&acc)[kPer][Layout<HD>::kDims], const float* p, const float* x, int ty, int tx) {
  using L = Layout<HD>;
  float sum[kPer][L::kDims] = {};
  for (int r = 0; r < kTile; ++r) {
    float pc[kPer];
    load_vec<kPer>(pc, p + r * kScoreStride + ty * kPer);
    float xv[L::kDims];
    load_dims<HD>(xv, x + r * L::kStride, tx);
    DG_ATTENTION_UNROLL
    for (int i = 0; i < kPer; ++i) {
      DG_ATTENTION_UNROLL
      for (int c = 0; c < L::kDims; ++c) sum[i][c] += pc[i] * xv[c];
    }
  }
  add_tile<HD>(acc, sum);
}

// Max and sum over the 16 lanes that share a ty (one half-warp), by a fixed butterfly.
__device__ float row_max(float v) {
  for (int offset = kSide / 2; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}
__device__ float row_sum(float v) {
  for (int offset = kSide / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// dst[row·pitch + d] (+)= factor·acc[i][·] for the rows ty·4 + i below `limit` and dims below head_dim.
template <int HD, bool kAdd>
__device__ void store_rows(float* dst, const float (&acc)[kPer][Layout<HD>::kDims], int64_t row0, int64_t limit,
                           int64_t pitch, int head_dim, float factor, int ty, int tx) {
  using L = Layout<HD>;
  DG_ATTENTION_UNROLL
  for (int i = 0; i < kPer; ++i) {
    const int64_t row = row0 + ty * kPer + i;
    if (row >= limit) continue;
    float* out = dst + row * pitch;
    DG_ATTENTION_UNROLL
    for (int c = 0; c < L::kVecs; ++c) {
      DG_ATTENTION_UNROLL
      for (int e = 0; e < L::kVec; ++e) {
        const int d = L::dim(tx, c) + e;
        if (d >= head_dim) continue;
        const float value = factor * acc[i][c * L::kVec + e];
        if (kAdd)
          out[d] += value;
        else
          out[d] = value;
      }
    }
  }
}

template <int HD>
__global__ void attention_forward_kernel(float* out, float* lse, const float* q, const float* k, const float* v,
                                         AttentionDims s) {
  using L = Layout<HD>;
  DG_DYNAMIC_SHARED(float, shared);
  float* qs = shared;
  float* ks = qs + L::kTileFloats;
  float* vs = ks + L::kTileFloats;
  float* ps = vs + L::kTileFloats;  // [64][68]

  const auto [qt, b, h, kvh, ty, tx] = query_tile_block(s);
  const float* k_head = k + s.kv_offset(b, kvh);
  const float* v_head = v + s.kv_offset(b, kvh);
  const int64_t q0 = qt * kTile;

  load_tile<HD>(qs, q + s.q_offset(b, h), q0, s.seq, s.q_pitch(), s.head_dim);
  float acc[kPer][L::kDims] = {};
  float m[kPer], l[kPer];  // running row max; this thread's share of the row sum (its keys)
  DG_ATTENTION_UNROLL
  for (int i = 0; i < kPer; ++i) m[i] = -INFINITY, l[i] = 0.0f;

  for (int64_t kt = 0; kt <= qt; ++kt) {
    const int64_t k0 = kt * kTile;
    __syncthreads();  // every thread is done reading the previous K, V and P
    load_tile<HD>(ks, k_head, k0, s.seq, s.kv_pitch(), s.head_dim);
    load_tile<HD>(vs, v_head, k0, s.seq, s.kv_pitch(), s.head_dim);
    __syncthreads();
    float sc[kPer][kPer];
    product_nt<HD>(sc, qs, ks, ty, tx);
    DG_ATTENTION_UNROLL
    for (int i = 0; i < kPer; ++i) {
      const int64_t row = q0 + ty * kPer + i;
      float tile_max = -INFINITY;
      DG_ATTENTION_UNROLL
      for (int j = 0; j < kPer; ++j) {
        // Causal: key ≤ row. Keys past seq lie above the diagonal of every real row.
        sc[i][j] = k0 + tx + kSide * j <= row ? sc[i][j] * s.scale : -INFINITY;
        tile_max = fmaxf(tile_max, sc[i][j]);
      }
      // Finite: tiles before the diagonal are all visible, and the diagonal tile holds key = row.
      const float m_new = fmaxf(m[i], row_max(tile_max));
      const float rescale = expf(m[i] - m_new);  // 0 on the first tile (m = −∞)
      m[i] = m_new;
      l[i] *= rescale;
      DG_ATTENTION_UNROLL
      for (int c = 0; c < L::kDims; ++c) acc[i][c] *= rescale;
      DG_ATTENTION_UNROLL
      for (int j = 0; j < kPer; ++j) {
        const float p = expf(sc[i][j] - m_new);
        l[i] += p;
        ps[(ty * kPer + i) * kScoreStride + tx + kSide * j] = p;
      }
    }
    __syncthreads();
    product_nn<HD>(acc, ps, vs, ty, tx);
  }

  float inv_sum[kPer];
  DG_ATTENTION_UNROLL
  for (int i = 0; i < kPer; ++i) {
    const float sum = row_sum(l[i]);
    inv_sum[i] = 1.0f / sum;
    const int64_t row = q0 + ty * kPer + i;
    if (tx == 0 && row < s.seq) lse[s.lse_offset(b, h) + row] = m[i] + logf(sum);
    DG_ATTENTION_UNROLL
    for (int c = 0; c < L::kDims; ++c) acc[i][c] *= inv_sum[i];
  }
  store_rows<HD, false>(out + s.q_offset(b, h), acc, q0, s.seq, s.q_pitch(), s.head_dim, 1.0f, ty, tx);
}

// delta[b, h, t] = Σ_d dout[b, t, h, d] · out[b, t, h, d], one warp per (b, t, h).
__global__ void attention_delta_kernel(float* delta, const float* dout, const float* out, int64_t rows, int64_t seq,
                                       int heads, int head_dim) {
  const int lane = warp_lane();
  for (int64_t row = global_warp(); row < rows; row += warp_count()) {
    const float* g = dout + row * head_dim;
    const float* o = out + row * head_dim;
    float sum = 0.0f;
    for (int d = lane; d < head_dim; d += kWarpSize) sum += g[d] * o[d];
    sum = warp_sum(sum);
    const int64_t h = row % heads, bt = row / heads, b = bt / seq, t = bt % seq;
    if (lane == 0) delta[(b * heads + h) * seq + t] = sum;
  }
}

// P = e^(scale·S − lse) under the causal mask (0 elsewhere, and on rows past seq); returns it in
// `sc` and turns dp into dS = P ⊙ (dP − delta). Rows and keys are the score layout's.
__device__ void probabilities_and_dscores(float (&sc)[kPer][kPer], float (&dp)[kPer][kPer], const float* lse_rows,
                                          const float* delta_rows, int64_t q0, int64_t k0, int64_t seq, float scale,
                                          int ty, int tx) {
  DG_ATTENTION_UNROLL
  for (int i = 0; i < kPer; ++i) {
    const int r = ty * kPer + i;
    const int64_t row = q0 + r;
    DG_ATTENTION_UNROLL
    for (int j = 0; j < kPer; ++j) {
      const bool visible = row < seq && k0 + tx + kSide * j <= row;
      const float p = visible ? expf(sc[i][j] * scale - lse_rows[r]) : 0.0f;
      sc[i][j] = p;
      dp[i][j] = p * (dp[i][j] - delta_rows[r]);
    }
  }
}

__device__ void store_score_tile(float* ps, const float (&t)[kPer][kPer], int ty, int tx) {
  DG_ATTENTION_UNROLL
  for (int i = 0; i < kPer; ++i) {
    DG_ATTENTION_UNROLL
    for (int j = 0; j < kPer; ++j) ps[(ty * kPer + i) * kScoreStride + tx + kSide * j] = t[i][j];
  }
}

template <int HD>
__global__ void attention_dkv_kernel(float* dk, float* dv, const float* dout, const float* q, const float* k,
                                     const float* v, const float* lse, const float* delta, AttentionDims s) {
  using L = Layout<HD>;
  DG_DYNAMIC_SHARED(float, shared);
  float* ks = shared;
  float* vs = ks + L::kTileFloats;
  float* qs = vs + L::kTileFloats;
  float* gs = qs + L::kTileFloats;  // dO
  float* ps = gs + L::kTileFloats;  // P, then dS [64][68]
  float* lse_rows = ps + kTile * kScoreStride;
  float* delta_rows = lse_rows + kTile;

  const int64_t kv_total = s.batch * s.kv_heads;
  const int64_t kt = blockIdx.x / kv_total;  // the first keys are seen by the most query tiles: first
  const int64_t bk = blockIdx.x % kv_total, b = bk / s.kv_heads;
  const int kvh = static_cast<int>(bk % s.kv_heads);
  const int ty = static_cast<int>(threadIdx.x) / kSide, tx = static_cast<int>(threadIdx.x) % kSide;
  const int64_t k0 = kt * kTile;

  load_tile<HD>(ks, k + s.kv_offset(b, kvh), k0, s.seq, s.kv_pitch(), s.head_dim);
  load_tile<HD>(vs, v + s.kv_offset(b, kvh), k0, s.seq, s.kv_pitch(), s.head_dim);
  float dk_acc[kPer][L::kDims] = {}, dv_acc[kPer][L::kDims] = {};  // rows: keys ty·4 + i

  for (int g = 0; g < s.group(); ++g) {
    const int h = kvh * s.group() + g;
    for (int64_t qt = kt; qt < s.tiles; ++qt) {
      const int64_t q0 = qt * kTile;
      __syncthreads();  // every thread is done with the previous Q, dO, dS and row values
      load_tile<HD>(qs, q + s.q_offset(b, h), q0, s.seq, s.q_pitch(), s.head_dim);
      load_tile<HD>(gs, dout + s.q_offset(b, h), q0, s.seq, s.q_pitch(), s.head_dim);
      load_row_values(lse_rows, lse + s.lse_offset(b, h), q0, s.seq);
      load_row_values(delta_rows, delta + s.lse_offset(b, h), q0, s.seq);
      __syncthreads();
      float sc[kPer][kPer], dp[kPer][kPer];
      product_nt<HD>(sc, qs, ks, ty, tx);
      product_nt<HD>(dp, gs, vs, ty, tx);
      probabilities_and_dscores(sc, dp, lse_rows, delta_rows, q0, k0, s.seq, s.scale, ty, tx);
      store_score_tile(ps, sc, ty, tx);
      __syncthreads();
      product_tn<HD>(dv_acc, ps, gs, ty, tx);
      __syncthreads();  // P is read; dS takes its place
      store_score_tile(ps, dp, ty, tx);
      __syncthreads();
      product_tn<HD>(dk_acc, ps, qs, ty, tx);
    }
  }
  store_rows<HD, true>(dk + s.kv_offset(b, kvh), dk_acc, k0, s.seq, s.kv_pitch(), s.head_dim, s.scale, ty, tx);
  store_rows<HD, true>(dv + s.kv_offset(b, kvh), dv_acc, k0, s.seq, s.kv_pitch(), s.head_dim, 1.0f, ty, tx);
}

template <int HD>
__global__ void attention_dq_kernel(float* dq, const float* dout, const float* q, const float* k, const float* v,
                                    const float* lse, const float* delta, AttentionDims s) {
  using L = Layout<HD>;
  DG_DYNAMIC_SHARED(float, shared);
  float* qs = shared;
  float* gs = qs + L::kTileFloats;  // dO
  float* ks = gs + L::kTileFloats;
  float* vs = ks + L::kTileFloats;
  float* ps = vs + L::kTileFloats;  // dS [64][68]
  float* lse_rows = ps + kTile * kScoreStride;
  float* delta_rows = lse_rows + kTile;

  const auto [qt, b, h, kvh, ty, tx] = query_tile_block(s);
  const float* k_head = k + s.kv_offset(b, kvh);
  const float* v_head = v + s.kv_offset(b, kvh);
  const int64_t q0 = qt * kTile;

  load_tile<HD>(qs, q + s.q_offset(b, h), q0, s.seq, s.q_pitch(), s.head_dim);
  load_tile<HD>(gs, dout + s.q_offset(b, h), q0, s.seq, s.q_pitch(), s.head_dim);
  load_row_values(lse_rows, lse + s.lse_offset(b, h), q0, s.seq);
  load_row_values(delta_rows, delta + s.lse_offset(b, h), q0, s.seq);
  float dq_acc[kPer][L::kDims] = {};

  for (int64_t kt = 0; kt <= qt; ++kt) {
    const int64_t k0 = kt * kTile;
    __syncthreads();  // every thread is done with the previous K, V and dS
    load_tile<HD>(ks, k_head, k0, s.seq, s.kv_pitch(), s.head_dim);
    load_tile<HD>(vs, v_head, k0, s.seq, s.kv_pitch(), s.head_dim);
    __syncthreads();
    float sc[kPer][kPer], dp[kPer][kPer];
    product_nt<HD>(sc, qs, ks, ty, tx);
    product_nt<HD>(dp, gs, vs, ty, tx);
    probabilities_and_dscores(sc, dp, lse_rows, delta_rows, q0, k0, s.seq, s.scale, ty, tx);
    store_score_tile(ps, dp, ty, tx);
    __syncthreads();
    product_nn<HD>(dq_acc, ps, ks, ty, tx);
  }
  store_rows<HD, true>(dq + s.q_offset(b, h), dq_acc, q0, s.seq, s.q_pitch(), s.head_dim, s.scale, ty, tx);
}

// The checked shape (op_checks.h) within the limits of these kernels, as they take it.
AttentionDims attention_dims(const char* op, const AttentionShape& shape, const Tensor& q, float softmax_scale) {
  DG_CHECK(shape.head_dim <= kMaxHeadDim,
           op << ": the CUDA backend supports head_dim up to " << kMaxHeadDim << ", q is " << describe(q));
  AttentionDims s{};
  s.batch = shape.batch;
  s.seq = shape.seq;
  s.heads = static_cast<int>(shape.heads);
  s.kv_heads = static_cast<int>(shape.kv_heads);
  s.head_dim = static_cast<int>(shape.head_dim);
  s.tiles = (shape.seq + kTile - 1) / kTile;
  s.scale = softmax_scale;
  DG_CHECK(shape.heads <= INT_MAX && s.tiles * shape.batch * shape.heads <= INT_MAX,
           op << ": q " << describe(q) << " needs more thread blocks than one launch has");
  return s;
}

// The kernels' HD: the head dim rounded up to 32, 64 or 128.
int padded_head_dim(int head_dim) { return head_dim <= 32 ? 32 : head_dim <= 64 ? 64 : 128; }

// Launches Kernel with 256 threads and `bytes` of dynamic shared memory (opted into above 48 KiB).
template <auto Kernel, class... Args>
void launch_tiles(int64_t blocks, size_t bytes, cudaStream_t stream, Args&&... args) {
  if (bytes > kDefaultSharedLimit) allow_dynamic_shared<Kernel>(bytes);
  launch<Kernel>(dim3(static_cast<unsigned>(blocks)), dim3(kBlockThreads), bytes, stream, std::forward<Args>(args)...);
}


template <int HD>
void run_forward(cudaStream_t stream, const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                 const Tensor& v, const AttentionDims& s) {
  launch_tiles<attention_forward_kernel<HD>>(s.tiles * s.batch * s.heads, Layout<HD>::forward_shared_bytes(), stream,
                                             out.f32(), lse.f32(), q.f32(), k.f32(), v.f32(), s);
}

template <int HD>
void run_backward(cudaStream_t stream, const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                  const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& lse, const float* delta,
                  const AttentionDims& s) {
  const size_t bytes = Layout<HD>::backward_shared_bytes();
  launch_tiles<attention_dkv_kernel<HD>>(s.tiles * s.batch * s.kv_heads, bytes, stream, dk.f32(), dv.f32(),
                                         dout.f32(), q.f32(), k.f32(), v.f32(), lse.f32(), delta, s);
  launch_tiles<attention_dq_kernel<HD>>(s.tiles * s.batch * s.heads, bytes, stream, dq.f32(), dout.f32(), q.f32(),
                                        k.f32(), v.f32(), lse.f32(), delta, s);
}

}  // namespace

void CudaBackend::attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                                    const Tensor& v, float softmax_scale) {
  const AttentionShape shape = check_attention_forward(Device::CUDA, out, lse, q, k, v);
  const AttentionDims s = attention_dims("attention_forward", shape, q, softmax_scale);
  if (s.batch * s.heads * s.seq == 0) return;
  switch (padded_head_dim(s.head_dim)) {
    case 32: run_forward<32>(stream_, out, lse, q, k, v, s); break;
    case 64: run_forward<64>(stream_, out, lse, q, k, v, s); break;
    default: run_forward<128>(stream_, out, lse, q, k, v, s); break;
  }
}

void CudaBackend::attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                                     const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                     const Tensor& lse, float softmax_scale) {
  const AttentionShape shape = check_attention_backward(Device::CUDA, dq, dk, dv, dout, q, k, v, out, lse);
  const AttentionDims s = attention_dims("attention_backward", shape, q, softmax_scale);
  const int64_t rows = s.batch * s.heads * s.seq;
  if (rows == 0) return;
  // delta [B, H, T] lives in scratch slot 2 for the length of this call (slots 0 and 1 are matmul's).
  auto* delta = static_cast<float*>(scratch(2, rows * static_cast<int64_t>(sizeof(float))));
  launch<attention_delta_kernel>(grid_for(rows * kWarpSize), kThreads, 0, stream_, delta, dout.f32(), out.f32(), rows,
                                 s.seq, s.heads, s.head_dim);
  switch (padded_head_dim(s.head_dim)) {
    case 32: run_backward<32>(stream_, dq, dk, dv, dout, q, k, v, lse, delta, s); break;
    case 64: run_backward<64>(stream_, dq, dk, dv, dout, q, k, v, lse, delta, s); break;
    default: run_backward<128>(stream_, dq, dk, dv, dout, q, k, v, lse, delta, s); break;
  }
}

}  // namespace dg::cuda
