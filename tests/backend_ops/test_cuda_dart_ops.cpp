// The CUDA backend's DART ops (kernels/ops_dart.cu) against the CPU reference: memory rows, token
// rows, the broadcast vector add, column tiling, the differential-attention λ and the differential
// combine (the PR's pairing a[i]/a[H+i] and DIFF V2's interleaved a[2i]/a[2i+1]; λ per head and per
// token), forward and backward, over odd sizes, backward ops starting from non-zero gradients (they
// ADD), the CPU's argument errors, and bit-identical results under two emulator schedules.
//
// Tolerances (kEps = 2^-23): copies, lone adds and adds in the CPU's order are the same IEEE
// operations everywhere: identical. a − λ·b differs where nvcc contracts it into an fma: by one
// rounding of the product (atol ε·|λ·b|) and of the result (rtol ε). Sums over rows or features use
// sum_tolerance (cuda_op_checks.h). e^x: CUDA's expf within 2 ulp, glibc's within 1.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backend_pair.h"
#include "core/error.h"
#include "cuda_op_checks.h"

namespace dg {
namespace {

using test::kEps;
using test::sum_tolerance;
using test::TensorPair;

TEST(CudaDartOps, MemoryConcat) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  struct Shape {
    int64_t batch, mem, tok, dim;
  };
  // No memory rows; a single element; several column tiles of [B, S·D] and a partial one.
  for (const Shape& s : {Shape{2, 0, 3, 5}, Shape{1, 1, 0, 1}, Shape{3, 4, 13, 37}}) {
    SCOPED_TRACE(std::to_string(s.batch) + "," + std::to_string(s.mem) + "," + std::to_string(s.tok) + "," +
                 std::to_string(s.dim));
    const int64_t seq = s.mem + s.tok;
    const TensorPair memory = pair.random({s.mem, s.dim}, 1), tok = pair.random({s.batch, s.tok, s.dim}, 2);
    const TensorPair x = pair.constant({s.batch, seq, s.dim}, 7.0f);
    pair.run([&](Backend& b, bool c) { b.memory_concat_forward(x.on(c), memory.on(c), tok.on(c)); });
    EXPECT_TRUE(pair.identical(x));

    const TensorPair dx = pair.random({s.batch, seq, s.dim}, 3), dmemory = pair.random({s.mem, s.dim}, 4);
    const TensorPair dtok = pair.random({s.batch, s.tok, s.dim}, 5);
    const auto backward = [&](Backend& b, bool c) { b.memory_concat_backward(dmemory.on(c), dtok.on(c), dx.on(c)); };
    EXPECT_TRUE(test::deterministic(pair, {dmemory, dtok}, [&](Backend& b) { backward(b, true); }));
    pair.run(backward);
    EXPECT_TRUE(pair.identical(dmemory));  // the batch sum in batch order, as on the CPU
    EXPECT_TRUE(pair.identical(dtok));
  }
}

TEST(CudaDartOps, TokenRows) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  struct Shape {
    int64_t batch, seq, tok, dim;
  };
  for (const Shape& s : {Shape{1, 1, 1, 1}, Shape{3, 17, 13, 37}, Shape{2, 5, 0, 4}}) {
    SCOPED_TRACE(std::to_string(s.batch) + "," + std::to_string(s.seq) + "," + std::to_string(s.tok));
    const TensorPair x = pair.random({s.batch, s.seq, s.dim}, 10), out = pair.constant({s.batch, s.tok, s.dim}, 3.0f);
    pair.run([&](Backend& b, bool c) { b.token_rows_forward(out.on(c), x.on(c)); });
    EXPECT_TRUE(pair.identical(out));
    const TensorPair dx = pair.random({s.batch, s.seq, s.dim}, 11), dout = pair.random({s.batch, s.tok, s.dim}, 12);
    pair.run([&](Backend& b, bool c) { b.token_rows_backward(dx.on(c), dout.on(c)); });
    EXPECT_TRUE(pair.identical(dx));  // the memory rows keep their gradient
  }
}

TEST(CudaDartOps, AddVector) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  for (auto [rows, dim] : {std::pair<int64_t, int64_t>{1, 1}, {3, 33}, {150, 45}, {70, 300}}) {
    SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(dim));
    const TensorPair x = pair.random({rows, dim}, 20), v = pair.random({dim}, 21);
    pair.run([&](Backend& b, bool c) { b.add_vector_forward(x.on(c), v.on(c)); });
    EXPECT_TRUE(pair.identical(x));
    const TensorPair dv = pair.random({dim}, 22);
    const auto backward = [&](Backend& b, bool c) { b.add_vector_backward(dv.on(c), x.on(c)); };
    EXPECT_TRUE(test::deterministic(pair, {dv}, [&](Backend& b) { backward(b, true); }));
    pair.run(backward);
    // Σ over rows of x + v: |term| ≤ 2.
    EXPECT_TRUE(pair.close(dv, sum_tolerance(rows, 2.0 * rows), kEps));
  }
}

TEST(CudaDartOps, TileColumns) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  struct Shape {
    int64_t rows, width, copies;
  };
  for (const Shape& s : {Shape{1, 1, 1}, Shape{9, 7, 3}, Shape{40, 37, 2}}) {
    SCOPED_TRACE(std::to_string(s.rows) + "," + std::to_string(s.width) + "," + std::to_string(s.copies));
    const TensorPair x = pair.random({s.rows, s.width}, 30), out = pair.zeros({s.rows, s.width * s.copies});
    pair.run([&](Backend& b, bool c) { b.tile_columns_forward(out.on(c), x.on(c)); });
    EXPECT_TRUE(pair.identical(out));
    const TensorPair dx = pair.random({s.rows, s.width}, 31), dout = pair.random({s.rows, s.width * s.copies}, 32);
    pair.run([&](Backend& b, bool c) { b.tile_columns_backward(dx.on(c), dout.on(c)); });
    EXPECT_TRUE(pair.identical(dx));  // dx += copy 0, then copy 1, ... as on the CPU
  }
}

TEST(CudaDartOps, DiffLambda) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  for (int64_t heads : {1, 8, 300}) {
    SCOPED_TRACE(heads);
    const TensorPair lq1 = pair.random({heads}, 40, -0.5f, 0.5f), lk1 = pair.random({heads}, 41, -0.5f, 0.5f);
    const TensorPair lq2 = pair.random({heads}, 42, -0.5f, 0.5f), lk2 = pair.random({heads}, 43, -0.5f, 0.5f);
    const TensorPair lambda = pair.zeros({heads});
    pair.run([&](Backend& b, bool c) {
      b.diff_lambda_forward(lambda.on(c), lq1.on(c), lk1.on(c), lq2.on(c), lk2.on(c), 0.8f);
    });
    // Each product e^a·e^b ≤ e is within 2·3 ulp + one rounding (7ε relative) on either side; the
    // difference and the + init add a rounding of the result.
    const double e = std::exp(1.0);
    EXPECT_TRUE(pair.close(lambda, 2 * 8 * kEps * e, kEps));
    const TensorPair dlambda = pair.random({heads}, 44);
    const TensorPair dlq1 = pair.random({heads}, 45), dlk1 = pair.random({heads}, 46);
    const TensorPair dlq2 = pair.random({heads}, 47), dlk2 = pair.random({heads}, 48);
    pair.run([&](Backend& b, bool c) {
      b.diff_lambda_backward(dlq1.on(c), dlk1.on(c), dlq2.on(c), dlk2.on(c), dlambda.on(c), lq1.on(c), lk1.on(c),
                             lq2.on(c), lk2.on(c));
    });
    for (const TensorPair* t : {&dlq1, &dlk1, &dlq2, &dlk2}) EXPECT_TRUE(pair.close(*t, 8 * kEps * e, kEps));
  }
}

struct CombineCase {
  int64_t batch, seq, heads, head_dim;
};

// a [B, S, 2H, hd] -> out [B, S, H, hd], both layouts, λ per head [H] and per token [B·S, H].
TEST(CudaDartOps, DiffCombineBothLayoutsBothLambdas) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  // One element; rows in several 64-row chunks with odd H and hd; head_dim above a warp.
  const std::vector<CombineCase> cases = {{1, 1, 1, 1}, {2, 37, 3, 5}, {1, 70, 2, 40}};
  uint64_t seed = 50;
  for (const CombineCase& s : cases) {
    const int64_t rows = s.batch * s.seq;
    for (bool interleaved : {false, true}) {
      for (bool per_token : {false, true}) {
        SCOPED_TRACE(testing::Message() << "B=" << s.batch << " S=" << s.seq << " H=" << s.heads << " hd=" << s.head_dim
                                        << (interleaved ? " interleaved" : " paired") << (per_token ? " λ per token" : " λ per head"));
        const TensorPair a = pair.random({s.batch, s.seq, 2 * s.heads, s.head_dim}, seed++);
        const TensorPair lambda = per_token ? pair.random({rows, s.heads}, seed++) : pair.random({s.heads}, seed++);
        const TensorPair out = pair.zeros({s.batch, s.seq, s.heads, s.head_dim});
        pair.run([&](Backend& b, bool c) { b.diff_combine_forward(out.on(c), a.on(c), lambda.on(c), interleaved); });
        EXPECT_TRUE(pair.close(out, kEps, kEps));  // a1 − λ·a2, |λ·a2| ≤ 1

        const TensorPair dout = pair.random({s.batch, s.seq, s.heads, s.head_dim}, seed++);
        const TensorPair da = pair.random({s.batch, s.seq, 2 * s.heads, s.head_dim}, seed++);
        const TensorPair dlambda = per_token ? pair.random({rows, s.heads}, seed++) : pair.random({s.heads}, seed++);
        const auto backward = [&](Backend& b, bool c) {
          b.diff_combine_backward(da.on(c), dlambda.on(c), dout.on(c), a.on(c), lambda.on(c), interleaved);
        };
        EXPECT_TRUE(test::deterministic(pair, {da, dlambda}, [&](Backend& b) { backward(b, true); }));
        pair.run(backward);
        EXPECT_TRUE(pair.close(da, kEps, kEps));
        // −Σ a2·dout over hd features (per token) or over rows·hd (per head), |term| ≤ 1.
        const int64_t terms = (per_token && rows != 1) ? s.head_dim : rows * s.head_dim;
        EXPECT_TRUE(pair.close(dlambda, sum_tolerance(terms, static_cast<double>(terms)), kEps));
      }
    }
  }
}

TEST(CudaDartOps, BadArgumentsAreTheCpuErrors) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  const TensorPair x = pair.random({2, 5, 4}, 60), tok = pair.random({2, 3, 4}, 61), mem = pair.random({2, 4}, 62);
  const TensorPair wrong_tok = pair.random({2, 6, 4}, 63), v4 = pair.random({4}, 64), v3 = pair.random({3}, 65);
  const TensorPair w = pair.random({10, 7}, 66), a = pair.random({2, 3, 4, 5}, 67), out = pair.random({2, 3, 2, 5}, 68);
  const TensorPair lam2 = pair.random({2}, 69), lam3 = pair.random({3}, 70), odd = pair.random({2, 3, 3, 5}, 71);
  using F = std::function<void(Backend&, bool)>;
  const std::vector<F> calls = {
      [&](Backend& b, bool c) { b.memory_concat_forward(x.on(c), mem.on(c), wrong_tok.on(c)); },
      [&](Backend& b, bool c) { b.memory_concat_forward(x.on(c), v3.on(c), tok.on(c)); },
      [&](Backend& b, bool c) { b.memory_concat_forward(x.on(c), mem.on(c), x.on(c)); },
      [&](Backend& b, bool c) { b.memory_concat_backward(mem.on(c), wrong_tok.on(c), x.on(c)); },
      [&](Backend& b, bool c) { b.memory_concat_backward(mem.on(c), tok.on(c), x.on(c).view({10, 4})); },
      [&](Backend& b, bool c) { b.token_rows_forward(wrong_tok.on(c), x.on(c)); },
      [&](Backend& b, bool c) { b.token_rows_forward(x.on(c), x.on(c)); },
      [&](Backend& b, bool c) { b.token_rows_backward(x.on(c), wrong_tok.on(c)); },
      [&](Backend& b, bool c) { b.add_vector_forward(x.on(c), v3.on(c)); },
      [&](Backend& b, bool c) { b.add_vector_forward(v4.on(c).view({1, 4}), v4.on(c)); },
      [&](Backend& b, bool c) { b.add_vector_backward(v3.on(c), x.on(c)); },
      [&](Backend& b, bool c) { b.tile_columns_forward(w.on(c), x.on(c).view({10, 4})); },
      [&](Backend& b, bool c) { b.tile_columns_forward(w.on(c).view({10, 7}), v3.on(c).view({3, 1})); },
      [&](Backend& b, bool c) { b.tile_columns_backward(x.on(c).view({10, 4}), w.on(c)); },
      [&](Backend& b, bool c) { b.diff_lambda_forward(lam2.on(c), lam2.on(c), lam3.on(c), lam2.on(c), lam2.on(c), 0.5f); },
      [&](Backend& b, bool c) {
        b.diff_lambda_backward(lam2.on(c), lam2.on(c), lam2.on(c), lam2.on(c), lam3.on(c), lam2.on(c), lam2.on(c),
                               lam2.on(c), lam2.on(c));
      },
      [&](Backend& b, bool c) { b.diff_combine_forward(out.on(c), odd.on(c), lam2.on(c), false); },
      [&](Backend& b, bool c) { b.diff_combine_forward(x.on(c), a.on(c), lam2.on(c), false); },
      [&](Backend& b, bool c) { b.diff_combine_forward(out.on(c), a.on(c), lam3.on(c), true); },
      [&](Backend& b, bool c) { b.diff_combine_forward(a.on(c).view({2, 3, 2, 10}), a.on(c), lam2.on(c), true); },
      [&](Backend& b, bool c) { b.diff_combine_backward(out.on(c), lam2.on(c), out.on(c), a.on(c), lam2.on(c), false); },
      [&](Backend& b, bool c) { b.diff_combine_backward(a.on(c), lam3.on(c), out.on(c), a.on(c), lam2.on(c), false); },
  };
  for (size_t i = 0; i < calls.size(); ++i) {
    SCOPED_TRACE("call " + std::to_string(i));
    test::expect_same_error(pair, calls[i]);
  }
}

}  // namespace
}  // namespace dg
