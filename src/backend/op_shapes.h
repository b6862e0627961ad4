// The dimensions an op's argument checks (op_checks.h) derive from its tensors, in the form both
// backends' kernels take them: one definition, so the CPU kernels, the CUDA kernels and the checks
// cannot drift apart. Plain aggregates: CUDA kernels receive them by value.
#pragma once

#include <cstdint>

namespace dg {

// q [batch, seq, heads, head_dim], k and v [batch, seq, kv_heads, head_dim].
struct AttentionShape {
  int64_t batch = 0, seq = 0, heads = 0, kv_heads = 0, head_dim = 0;
};

// c [m, n] = op(a) [m, k] · op(b) [k, n].
struct MatmulShape {
  int64_t m = 0, n = 0, k = 0;
};

// a [rows, 2·heads, head_dim] combined into out [rows, heads, head_dim].
struct DiffCombineShape {
  int64_t rows = 0;             // batch × sequence
  int64_t heads = 0;            // output heads H (a holds 2H)
  int64_t head_dim = 0;
  bool per_row_lambda = false;  // λ [rows, H] instead of [H]
  bool interleaved = false;     // pairs (2i, 2i+1) instead of (i, H+i)
};

struct DaamShape {
  int64_t rows = 0;
  int64_t dim = 0;        // features per row
  int64_t groups = 0;     // g: dim % groups == 0
  int64_t gaussians = 1;  // N per group
};

// x [..., heads, head_dim] viewed as [rows, heads, head_dim], with its gate [rows, heads].
struct HeadGateShape {
  int64_t rows = 0, heads = 0, head_dim = 0;
};

}  // namespace dg
