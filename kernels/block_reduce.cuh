// Deterministic warp and block reductions for the row-wise kernels (ops_loss.cu, ops_optim.cu).
// The combining order is fixed by the lane and warp indices alone (a butterfly within each warp,
// then the warps' results in index order), so a reduction gives bit-identical results on every
// run and under every emulator schedule: no atomics, no dependence on which warp finishes first.
// Blocks must be whole warps (blockDim.x a multiple of 32, blockDim.y = blockDim.z = 1).
#pragma once

#include "dialect.cuh"

namespace dg::cuda {

struct SumOp {
  template <class T>
  __device__ T operator()(T a, T b) const { return a + b; }
};
// fmaxf semantics: a NaN operand is ignored (the CPU's `c > m ? c : m` running max does the same).
struct MaxOp {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct MinOp {
  template <class T>
  __device__ T operator()(T a, T b) const { return b < a ? b : a; }
};

// Every lane gets op over the warp's 32 values. At each butterfly level lane i combines (v_i, v_j)
// and lane j (v_j, v_i); with a commutative op both get the same bits, so all lanes agree.
template <class T, class Op>
__device__ T warp_allreduce(T v, Op op) {
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Every thread of the block gets op over the block's values. `scratch` is shared memory for at
// least 33 values; consecutive calls may reuse it (the result slot is written only after a
// barrier that every reader of the previous result has passed).
template <class T, class Op>
__device__ T block_allreduce(T v, Op op, T* scratch) {
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
  v = warp_allreduce(v, op);
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    T total = scratch[0];
    for (unsigned w = 1; w < (blockDim.x >> 5); ++w) total = op(total, scratch[w]);  // warps in index order
    scratch[32] = total;
  }
  __syncthreads();
  return scratch[32];
}

}  // namespace dg::cuda
