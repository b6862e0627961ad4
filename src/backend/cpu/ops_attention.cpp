#include "backend/cpu/ops_attention.h"

#include <algorithm>
#include <cmath>

#include "backend/cpu/ops_matmul.h"
#include "backend/cpu/parallel.h"
#include "backend/cpu/vec_math.h"

namespace dg::cpu {
namespace {

// Pointers and strides of one (batch, query head) slice and its KV head.
template <class Real>
struct HeadView {
  int64_t q_stride, kv_stride;  // elements between consecutive positions
  int64_t q_offset, kv_offset;  // element offset of position 0
  HeadView(const AttentionShape& s, int64_t b, int64_t h) {
    const int64_t kvh = h / (s.heads / s.kv_heads);
    q_stride = s.heads * s.head_dim;
    kv_stride = s.kv_heads * s.head_dim;
    q_offset = (b * s.seq * s.heads + h) * s.head_dim;
    kv_offset = (b * s.seq * s.kv_heads + kvh) * s.head_dim;
  }
};

// Row r of the [rows, keys] tile holds position t = first + r, which may attend to keys 0..t. Turns
// raw scores into probabilities: p = e^(s − shift(r)) for j ≤ t, 0 after. `shift` is the row max
// (forward, then normalised) or the saved lse (backward, already normalised).
template <class Real>
void causal_softmax_rows(Real* tile, int64_t rows, int64_t keys, int64_t first, Real* lse_row, bool from_lse) {
  for (int64_t r = 0; r < rows; ++r) {
    Real* row = tile + r * keys;
    const int64_t valid = first + r + 1;
    if (from_lse) {
      exp_shift_sum(row, valid, lse_row[r]);
    } else {
      const Real max_score = row_max(row, valid);
      const Real sum = exp_shift_sum(row, valid, max_score);
      const Real inv_sum = Real(1) / sum;
#pragma omp simd
      for (int64_t j = 0; j < valid; ++j) row[j] *= inv_sum;
      lse_row[r] = max_score + std::log(sum);
    }
    std::fill(row + valid, row + keys, Real(0));
  }
}

}  // namespace

template <class Real>
void attention_forward(Real* out, Real* lse, const Real* q, const Real* k, const Real* v, const AttentionShape& shape,
                       Real softmax_scale) {
  const int64_t T = shape.seq, hd = shape.head_dim;
  const int64_t blocks = (T + kAttentionBlock - 1) / kAttentionBlock;
  const int64_t tasks = shape.batch * shape.heads * blocks;
  // Later blocks see more keys; handing them out first (dynamic) evens out the threads' work.
#pragma omp parallel for schedule(dynamic, 1) if (shape.batch * shape.heads * T * T * hd > kParallelMinElements)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t blk = blocks - 1 - task % blocks;
    const int64_t bh = task / blocks, b = bh / shape.heads, h = bh % shape.heads;
    const HeadView<Real> view(shape, b, h);
    const int64_t first = blk * kAttentionBlock, rows = std::min(T, first + kAttentionBlock) - first;
    const int64_t keys = first + rows;
    Real* scores = thread_scratch<Real>(kAttentionBlock * T);
    const Real* q_block = q + view.q_offset + first * view.q_stride;
    gemm_strided<Real>(scores, keys, q_block, view.q_stride, false, k + view.kv_offset, view.kv_stride, true, rows,
                       keys, hd, softmax_scale, Real(0));
    causal_softmax_rows<Real>(scores, rows, keys, first, lse + (b * shape.heads + h) * T + first, false);
    gemm_strided<Real>(out + view.q_offset + first * view.q_stride, view.q_stride, scores, keys, false,
                       v + view.kv_offset, view.kv_stride, false, rows, hd, keys, Real(1), Real(0));
  }
}

template <class Real>
void attention_backward(Real* dq, Real* dk, Real* dv, const Real* dout, const Real* q, const Real* k, const Real* v,
                        const Real* out, const Real* lse, const AttentionShape& shape, Real softmax_scale) {
  const int64_t T = shape.seq, hd = shape.head_dim;
  const int64_t group = shape.heads / shape.kv_heads;
  const int64_t blocks = (T + kAttentionBlock - 1) / kAttentionBlock;
  // One task per (batch, KV head): it owns dk/dv of that head and dq of its query heads, so
  // nothing is written by two threads and every sum runs in a fixed order.
#pragma omp parallel for schedule(dynamic, 1) if (shape.batch * shape.heads * T * T * hd > kParallelMinElements)
  for (int64_t task = 0; task < shape.batch * shape.kv_heads; ++task) {
    const int64_t b = task / shape.kv_heads, kvh = task % shape.kv_heads;
    Real* probs = thread_scratch<Real>(2 * kAttentionBlock * T + kAttentionBlock);
    Real* dscores = probs + kAttentionBlock * T;
    Real* row_lse = dscores + kAttentionBlock * T;
    for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) {
      const HeadView<Real> view(shape, b, h);
      const Real* k_head = k + view.kv_offset;
      const Real* v_head = v + view.kv_offset;
      for (int64_t blk = 0; blk < blocks; ++blk) {
        const int64_t first = blk * kAttentionBlock, rows = std::min(T, first + kAttentionBlock) - first;
        const int64_t keys = first + rows;
        const int64_t q_off = view.q_offset + first * view.q_stride;
        // P from the saved lse: P = e^(scale·Q·Kᵀ − lse), 0 above the diagonal.
        gemm_strided<Real>(probs, keys, q + q_off, view.q_stride, false, k_head, view.kv_stride, true, rows, keys, hd,
                           softmax_scale, Real(0));
        std::copy_n(lse + (b * shape.heads + h) * T + first, rows, row_lse);
        causal_softmax_rows<Real>(probs, rows, keys, first, row_lse, true);
        // dP = dout·Vᵀ, then dS = P ⊙ (dP − delta) in place.
        gemm_strided<Real>(dscores, keys, dout + q_off, view.q_stride, false, v_head, view.kv_stride, true, rows, keys,
                           hd, Real(1), Real(0));
        for (int64_t r = 0; r < rows; ++r) {
          const Real* g = dout + q_off + r * view.q_stride;
          const Real* o = out + q_off + r * view.q_stride;
          Real delta = 0;
#pragma omp simd reduction(+ : delta)
          for (int64_t d = 0; d < hd; ++d) delta += g[d] * o[d];
          Real* ds = dscores + r * keys;
          const Real* p = probs + r * keys;
#pragma omp simd
          for (int64_t j = 0; j < keys; ++j) ds[j] = p[j] * (ds[j] - delta);
        }
        gemm_strided<Real>(dq + q_off, view.q_stride, dscores, keys, false, k_head, view.kv_stride, false, rows, hd,
                           keys, softmax_scale, Real(1));
        gemm_strided<Real>(dk + view.kv_offset, view.kv_stride, dscores, keys, true, q + q_off, view.q_stride, false,
                           keys, hd, rows, softmax_scale, Real(1));
        gemm_strided<Real>(dv + view.kv_offset, view.kv_stride, probs, keys, true, dout + q_off, view.q_stride, false,
                           keys, hd, rows, Real(1), Real(1));
      }
    }
  }
}

template void attention_forward<float>(float*, float*, const float*, const float*, const float*,
                                       const AttentionShape&, float);
template void attention_forward<double>(double*, double*, const double*, const double*, const double*,
                                        const AttentionShape&, double);
template void attention_backward<float>(float*, float*, float*, const float*, const float*, const float*,
                                        const float*, const float*, const float*, const AttentionShape&, float);
template void attention_backward<double>(double*, double*, double*, const double*, const double*, const double*,
                                         const double*, const double*, const double*, const AttentionShape&, double);

}  // namespace dg::cpu
