// Rotary position embedding, train_gpt.py's convention: each head vector is split in halves
// (x1 = x[:hd/2], x2 = x[hd/2:]) and rotated as (x1·cos + x2·sin, −x1·sin + x2·cos) with angle
// p·base^(−2i/hd) at position p = t − start. Rows t < start (memory tokens) are not touched.
#pragma once

#include <cstdint>

namespace dg::cpu {

// cos/sin tables [positions, head_dim/2]. The float instantiation computes them the way
// train_gpt.py's Rotary does in float32 (inv_freq = 1/base^(2i/hd), angle = p·inv_freq, all in
// float), so the rotated values match PyTorch to rounding.
template <class Real>
void rope_tables(Real* cos_table, Real* sin_table, int64_t positions, int64_t head_dim, Real base);

// x [batch, seq, heads, head_dim] in place; tables must cover seq − start positions.
// inverse = true applies the transposed rotation (the backward of the forward).
template <class Real>
void rope_apply(Real* x, const Real* cos_table, const Real* sin_table, int64_t batch, int64_t seq, int64_t heads,
                int64_t head_dim, int64_t start, bool inverse);

}  // namespace dg::cpu
