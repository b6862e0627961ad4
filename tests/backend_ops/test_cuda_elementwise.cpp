// The CUDA backend's elementwise and per-feature ops (kernels/ops_elementwise.cu) against the CPU
// reference: axpy, scale, sum_squares, relu², resid_mix, add_scaled, head_scale, sigmoid, GELU and
// gated_add, forward and backward, over odd sizes (1 × 1, one partial column tile, several row
// chunks), backward ops starting from non-zero gradients (they ADD), the CPU's argument errors,
// and bit-identical results under two emulator schedules (run after run on a GPU).
//
// Tolerances (kEps = 2^-23): an expression the kernel evaluates as the CPU does differs only
// where nvcc contracts a·b + c into one fma, by at most one rounding of the product (atol ε·|a·b|)
// and of the result (rtol ε); the emulator (g++, no contraction) reproduces the CPU there bit for
// bit. A lone product is the same IEEE operation everywhere: identical. Sums over rows use
// sum_tolerance (cuda_op_checks.h). Transcendentals: CUDA's expf and erff are within 2 ulp,
// glibc's within 1.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "backend_pair.h"
#include "core/error.h"
#include "cuda_op_checks.h"

namespace dg {
namespace {

using test::kEps;
using test::sum_tolerance;
using test::TensorPair;

struct Rows {
  int64_t rows, dim;
};
// 1 × 1; one row tile and a partial second column tile; several 64-row chunks (the column sums'
// second pass) and a partial column tile.
const std::vector<Rows> kRowShapes = {{1, 1}, {3, 33}, {150, 45}};

std::string shape_name(const Rows& s) { return std::to_string(s.rows) + "x" + std::to_string(s.dim); }

TEST(CudaElementwise, AxpyAndScale) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  for (int64_t n : {1, 7, 1000, 300001}) {  // 300001: more than one pass of 1024 blocks × 256 threads
    SCOPED_TRACE(n);
    const TensorPair y = pair.random({n}, 1), x = pair.random({n}, 2, -3.0f, 3.0f);
    pair.run([&](Backend& b, bool cuda) { b.axpy(y.on(cuda), -0.75f, x.on(cuda)); });
    EXPECT_TRUE(pair.close(y, kEps * 0.75 * 3.0, kEps));  // y + α·x: one product rounding apart
    pair.run([&](Backend& b, bool cuda) { b.scale(y.on(cuda), 1.375f); });
    EXPECT_TRUE(pair.identical(y));  // one IEEE product
  }
  // A view of another shape with the same element count is accepted, as on the CPU.
  const TensorPair y = pair.random({6, 5}, 3), x = pair.random({30}, 4);
  pair.run([&](Backend& b, bool cuda) { b.axpy(y.on(cuda), 2.0f, x.on(cuda)); });
  EXPECT_TRUE(pair.close(y, kEps * 2.0, kEps));
}

TEST(CudaElementwise, SumSquaresInDouble) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  for (int64_t n : {1, 255, 257, 20001}) {  // 20001: 79 blocks of partial sums
    SCOPED_TRACE(n);
    const TensorPair x = pair.random({n}, 5, -2.0f, 2.0f);
    const double cpu = pair.cpu().sum_squares(x.cpu), cuda = pair.cuda().sum_squares(x.cuda);
    // Each x² is exact in double; two orders of n positive terms differ by at most n·2^-52 relative.
    EXPECT_NEAR(cuda, cpu, static_cast<double>(n) * std::ldexp(1.0, -52) * cpu);
    std::vector<double> runs;
    test::same_bits_every_schedule([&] {
      runs.push_back(pair.cuda().sum_squares(x.cuda));
      return std::vector<float>{};
    });
    ASSERT_EQ(runs.size(), 2u);
    EXPECT_EQ(runs[0], runs[1]);
  }
  // The float sum would overflow; the double one does not (2^100 squared is exact in double).
  const TensorPair big = pair.constant({4}, std::ldexp(1.0f, 100));
  EXPECT_EQ(pair.cuda().sum_squares(big.cuda), std::ldexp(1.0, 202));
  const TensorPair empty = pair.zeros({0});
  EXPECT_EQ(pair.cuda().sum_squares(empty.cuda), 0.0);
}

TEST(CudaElementwise, Relu2) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  for (int64_t n : {1, 333, 5000}) {
    SCOPED_TRACE(n);
    const TensorPair x = pair.random({n}, 6, -2.0f, 2.0f), out = pair.constant({n}, 9.0f);
    pair.run([&](Backend& b, bool cuda) { b.relu2_forward(out.on(cuda), x.on(cuda)); });
    EXPECT_TRUE(pair.identical(out));
    const TensorPair dout = pair.random({n}, 7), dx = pair.random({n}, 8);
    pair.run([&](Backend& b, bool cuda) { b.relu2_backward(dx.on(cuda), dout.on(cuda), x.on(cuda)); });
    EXPECT_TRUE(pair.close(dx, kEps * 4.0, kEps));  // dx + (2·relu(x))·dout, |2·relu·dout| ≤ 4
  }
  // relu(x) = (x + |x|)/2 as on the CPU: NaN and −∞ give NaN (fmaxf would give 0), +∞ stays.
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const TensorPair x = pair.from_host({6}, {nan, -inf, inf, -0.0f, 0.0f, 1e19f}), out = pair.zeros({6});
  pair.run([&](Backend& b, bool cuda) { b.relu2_forward(out.on(cuda), x.on(cuda)); });
  EXPECT_TRUE(pair.identical(out));
  EXPECT_TRUE(std::isnan(pair.cuda_values(out)[1]));
}

TEST(CudaElementwise, ResidMix) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  for (const Rows& s : kRowShapes) {
    SCOPED_TRACE(shape_name(s));
    const TensorPair x = pair.random({s.rows, s.dim}, 10), x0 = pair.random({s.rows, s.dim}, 11);
    const TensorPair mix = pair.random({2, s.dim}, 12, -2.0f, 2.0f), out = pair.zeros({s.rows, s.dim});
    pair.run([&](Backend& b, bool cuda) { b.resid_mix_forward(out.on(cuda), x.on(cuda), x0.on(cuda), mix.on(cuda)); });
    EXPECT_TRUE(pair.close(out, kEps * 2.0, kEps));  // m0·x + m1·x0, products ≤ 2

    const TensorPair dout = pair.random({s.rows, s.dim}, 13), dx = pair.random({s.rows, s.dim}, 14);
    const TensorPair dx0 = pair.random({s.rows, s.dim}, 15), dmix = pair.random({2, s.dim}, 16);
    const auto backward = [&](Backend& b, bool cuda) {
      b.resid_mix_backward(dx.on(cuda), dx0.on(cuda), dmix.on(cuda), dout.on(cuda), x.on(cuda), x0.on(cuda),
                           mix.on(cuda));
    };
    EXPECT_TRUE(test::deterministic(pair, {dx, dx0, dmix}, [&](Backend& b) { backward(b, true); }));
    pair.run(backward);
    EXPECT_TRUE(pair.close(dx, kEps * 2.0, kEps));
    EXPECT_TRUE(pair.close(dx0, kEps * 2.0, kEps));
    // dmix: Σ over rows of dout·x (|term| ≤ 1), added to a start value ≤ 1.
    EXPECT_TRUE(pair.close(dmix, sum_tolerance(s.rows, static_cast<double>(s.rows)), kEps));
  }
}

TEST(CudaElementwise, AddScaled) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  for (const Rows& s : kRowShapes) {
    SCOPED_TRACE(shape_name(s));
    const TensorPair x = pair.random({s.rows, s.dim}, 20), y = pair.random({s.rows, s.dim}, 21);
    const TensorPair sc = pair.random({s.dim}, 22, -2.0f, 2.0f);
    pair.run([&](Backend& b, bool cuda) { b.add_scaled_forward(x.on(cuda), sc.on(cuda), y.on(cuda)); });
    EXPECT_TRUE(pair.close(x, kEps * 2.0, kEps));

    const TensorPair dy = pair.random({s.rows, s.dim}, 23), ds = pair.random({s.dim}, 24);
    const TensorPair dx = pair.random({s.rows, s.dim}, 25);
    const auto backward = [&](Backend& b, bool cuda) {
      b.add_scaled_backward(dy.on(cuda), ds.on(cuda), dx.on(cuda), sc.on(cuda), y.on(cuda));
    };
    EXPECT_TRUE(test::deterministic(pair, {dy, ds, dx}, [&](Backend& b) { backward(b, true); }));
    const std::vector<float> dx_before = pair.cuda_values(dx);
    pair.run(backward);
    EXPECT_TRUE(pair.close(dy, kEps * 2.0, kEps));
    EXPECT_TRUE(pair.close(ds, sum_tolerance(s.rows, static_cast<double>(s.rows)), kEps));
    EXPECT_EQ(pair.cuda_values(dx), dx_before);  // dx flows through unchanged
  }
}

TEST(CudaElementwise, GatedAdd) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  for (const Rows& s : kRowShapes) {
    SCOPED_TRACE(shape_name(s));
    const TensorPair x = pair.random({s.rows, s.dim}, 30), gate = pair.random({s.rows, s.dim}, 31, 0.0f, 1.0f);
    const TensorPair y = pair.random({s.rows, s.dim}, 32), sc = pair.random({s.dim}, 33, -2.0f, 2.0f);
    pair.run([&](Backend& b, bool cuda) { b.gated_add_forward(x.on(cuda), gate.on(cuda), sc.on(cuda), y.on(cuda)); });
    EXPECT_TRUE(pair.close(x, kEps * 2.0, kEps));  // x + (gate·s)·y, |(gate·s)·y| ≤ 2

    const TensorPair dy = pair.random({s.rows, s.dim}, 34), dgate = pair.random({s.rows, s.dim}, 35);
    const TensorPair ds = pair.random({s.dim}, 36), dx = pair.random({s.rows, s.dim}, 37);
    const auto backward = [&](Backend& b, bool cuda) {
      b.gated_add_backward(dy.on(cuda), dgate.on(cuda), ds.on(cuda), dx.on(cuda), gate.on(cuda), sc.on(cuda), y.on(cuda));
    };
    EXPECT_TRUE(test::deterministic(pair, {dy, dgate, ds}, [&](Backend& b) { backward(b, true); }));
    pair.run(backward);
    EXPECT_TRUE(pair.close(dy, kEps * 2.0, kEps));     // dy + (gate·s)·dx
    EXPECT_TRUE(pair.close(dgate, kEps * 2.0, kEps));  // dgate + (s·y)·dx
    // ds: Σ over rows of (gate·y)·dx, |term| ≤ 1.
    EXPECT_TRUE(pair.close(ds, sum_tolerance(s.rows, static_cast<double>(s.rows)), kEps));
  }
}

TEST(CudaElementwise, HeadScale) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  // [B, T, H, hd]: single element; odd heads and dims; head_dim above a warp (two lane passes).
  const std::vector<std::vector<int64_t>> shapes = {{1, 1, 1, 1}, {2, 75, 3, 5}, {1, 7, 2, 40}};
  for (const auto& shape : shapes) {
    SCOPED_TRACE(testing::PrintToString(shape));
    const int64_t heads = shape[2], terms = shape[0] * shape[1] * shape[3];
    const TensorPair x = pair.random(shape, 40), gain = pair.random({heads}, 41, -2.0f, 2.0f);
    const TensorPair out = pair.zeros(shape);
    pair.run([&](Backend& b, bool cuda) { b.head_scale_forward(out.on(cuda), x.on(cuda), gain.on(cuda)); });
    EXPECT_TRUE(pair.identical(out));

    const TensorPair dout = pair.random(shape, 42), dx = pair.random(shape, 43), dgain = pair.random({heads}, 44);
    const auto backward = [&](Backend& b, bool cuda) {
      b.head_scale_backward(dx.on(cuda), dgain.on(cuda), dout.on(cuda), x.on(cuda), gain.on(cuda));
    };
    EXPECT_TRUE(test::deterministic(pair, {dx, dgain}, [&](Backend& b) { backward(b, true); }));
    pair.run(backward);
    EXPECT_TRUE(pair.close(dx, kEps * 2.0, kEps));
    // dgain[h]: Σ over B·T·hd terms dout·x, |term| ≤ 1.
    EXPECT_TRUE(pair.close(dgain, sum_tolerance(terms, static_cast<double>(terms)), kEps));
  }
}

TEST(CudaElementwise, Sigmoid) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  for (int64_t n : {1, 333, 5000}) {
    SCOPED_TRACE(n);
    const TensorPair x = pair.random({n}, 50, -12.0f, 12.0f), out = pair.zeros({n});
    pair.run([&](Backend& b, bool cuda) { b.sigmoid_forward(out.on(cuda), x.on(cuda)); });
    // 1/(1 + e^{−x}): e^{−x} within 2 ulp (CUDA) or 1 (glibc), then + and / each half an ulp.
    EXPECT_TRUE(pair.close(out, 0.0, 6 * kEps));
    const TensorPair dout = pair.random({n}, 51), dx = pair.random({n}, 52);
    pair.run([&](Backend& b, bool cuda) { b.sigmoid_backward(dx.on(cuda), dout.on(cuda), out.on(cuda)); });
    EXPECT_TRUE(pair.close(dx, kEps * 0.25, kEps));  // dx + (dout·out)·(1 − out), the term ≤ 1/4
  }
}

TEST(CudaElementwise, GeluErfForm) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  for (int64_t n : {1, 333, 5000}) {
    SCOPED_TRACE(n);
    const float range = 4.0f;
    const TensorPair x = pair.random({n}, 60, -range, range), out = pair.zeros({n});
    pair.run([&](Backend& b, bool cuda) { b.gelu_forward(out.on(cuda), x.on(cuda)); });
    // 0.5x·(1 + erf(x/√2)): erf within 2 + 1 ulp (≤ 1.5ε absolute, |erf| < 1), the sum and the
    // products one rounding each: |Δ| ≤ 0.5|x|·2.5ε + ε|out|.
    EXPECT_TRUE(pair.close(out, 1.25 * range * kEps, kEps));
    const TensorPair dout = pair.random({n}, 61), dx = pair.random({n}, 62);
    pair.run([&](Backend& b, bool cuda) { b.gelu_backward(dx.on(cuda), dout.on(cuda), x.on(cuda)); });
    // dout·(Φ + x·φ): Φ as above (≤ 1.25ε), x·φ ≤ 0.25 within 4 ulp (expf and three products), sum,
    // product and the accumulation one rounding each.
    EXPECT_TRUE(pair.close(dx, 4 * kEps, kEps));
  }
}

TEST(CudaElementwise, EmptyTensorsAreNoOps) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  // Zero rows: nothing to launch (a grid of 0 blocks is an error), and the row sums add nothing.
  const TensorPair x = pair.zeros({0, 5}), y = pair.zeros({0, 5}), s = pair.random({5}, 70), mix = pair.random({2, 5}, 71);
  const TensorPair ds = pair.random({5}, 72), dmix = pair.random({2, 5}, 73), z = pair.zeros({0, 5});
  pair.run([&](Backend& b, bool c) {
    b.relu2_forward(y.on(c), x.on(c));
    b.add_scaled_forward(x.on(c), s.on(c), y.on(c));
    b.add_scaled_backward(y.on(c), ds.on(c), x.on(c), s.on(c), y.on(c));
    b.resid_mix_backward(x.on(c), y.on(c), dmix.on(c), x.on(c), x.on(c), y.on(c), mix.on(c));
    b.gated_add_backward(y.on(c), x.on(c), ds.on(c), z.on(c), x.on(c), s.on(c), y.on(c));
    EXPECT_EQ(b.sum_squares(x.on(c)), 0.0);
  });
  EXPECT_TRUE(pair.identical(ds));
  EXPECT_TRUE(pair.identical(dmix));
}

TEST(CudaElementwise, BadArgumentsAreTheCpuErrors) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  const TensorPair a = pair.random({4, 6}, 80), b5 = pair.random({4, 5}, 81), v6 = pair.random({6}, 82);
  const TensorPair v5 = pair.random({5}, 83), m6 = pair.random({2, 6}, 84), h = pair.random({2, 3, 2, 2}, 85);
  const TensorPair g3 = pair.random({3}, 86);
  using F = std::function<void(Backend&, bool)>;
  const std::vector<F> calls = {
      [&](Backend& be, bool c) { be.axpy(a.on(c), 1.0f, b5.on(c)); },
      [&](Backend& be, bool c) { be.axpy(a.on(!c), 1.0f, a.on(c)); },  // the other backend's tensor
      [&](Backend& be, bool c) { be.relu2_forward(b5.on(c), a.on(c)); },
      [&](Backend& be, bool c) { be.relu2_backward(a.on(c), b5.on(c), a.on(c)); },
      [&](Backend& be, bool c) { be.resid_mix_forward(a.on(c), a.on(c), b5.on(c), m6.on(c)); },
      [&](Backend& be, bool c) { be.resid_mix_forward(a.on(c), a.on(c), a.on(c), v6.on(c)); },
      [&](Backend& be, bool c) { be.resid_mix_backward(a.on(c), a.on(c), m6.on(c), a.on(c), a.on(c), a.on(c), m6.on(c)); },
      [&](Backend& be, bool c) { be.add_scaled_forward(a.on(c), v5.on(c), a.on(c)); },
      [&](Backend& be, bool c) { be.add_scaled_forward(a.on(c), v6.on(c), a.on(c)); },  // x and y alias
      [&](Backend& be, bool c) { be.add_scaled_backward(a.on(c), v5.on(c), a.on(c), v6.on(c), a.on(c)); },
      [&](Backend& be, bool c) { be.head_scale_forward(h.on(c), a.on(c), g3.on(c)); },
      [&](Backend& be, bool c) { be.head_scale_forward(h.on(c), h.on(c), g3.on(c)); },
      [&](Backend& be, bool c) { be.head_scale_backward(h.on(c), v5.on(c), h.on(c), h.on(c), v5.on(c)); },
      [&](Backend& be, bool c) { be.sigmoid_forward(b5.on(c), a.on(c)); },
      [&](Backend& be, bool c) { be.sigmoid_backward(a.on(c), a.on(c), b5.on(c)); },
      [&](Backend& be, bool c) { be.gelu_forward(b5.on(c), a.on(c)); },
      [&](Backend& be, bool c) { be.gelu_backward(a.on(c), b5.on(c), a.on(c)); },
      [&](Backend& be, bool c) { be.gated_add_forward(a.on(c), b5.on(c), v6.on(c), a.on(c)); },
      [&](Backend& be, bool c) { be.gated_add_forward(a.on(c), h.on(c).view({4, 6}), v5.on(c), m6.on(c).view({2, 6})); },
      [&](Backend& be, bool c) { be.gated_add_backward(a.on(c), a.on(c), v6.on(c), b5.on(c), a.on(c), v6.on(c), a.on(c)); },
  };
  for (size_t i = 0; i < calls.size(); ++i) {
    SCOPED_TRACE("call " + std::to_string(i));
    test::expect_same_error(pair, calls[i]);
  }
  EXPECT_THROW(pair.cuda().sum_squares(a.cpu), Error);
}

}  // namespace
}  // namespace dg
