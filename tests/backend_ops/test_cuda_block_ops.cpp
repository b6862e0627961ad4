// The CUDA backend's pluggable block ops (kernels/ops_blocks.cu) against the CPU reference:
// τ-fusion features (n = 2 and 3 streams, ties for sign(0) = 0), the DAAM density gate (N = 1
// without mix and N = 3 with mix, residual on and off, g groups dividing D) and its density, and the
// headwise gate, forward and backward, over odd sizes, backward ops starting from non-zero
// gradients (they ADD), the CPU's argument errors, and bit-identical results under two emulator
// schedules (run after run on a GPU).
//
// Tolerances (kEps = 2^-23; derivations next to each check): copies, sums in the CPU's order and
// lone products are the same IEEE operations everywhere: identical. a + b·c differs where nvcc
// contracts it into an fma: one rounding of the product and of the result. DAAM's statistics are
// sums over the m features of a group, in another order on the GPU (sum_tolerance), and the
// Gaussians amplify those differences; CUDA's expf is within 2 ulp, glibc's and the CPU's
// vectorised exp within 1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "backend_pair.h"
#include "core/error.h"
#include "core/rng.h"
#include "cuda_op_checks.h"

namespace dg {
namespace {

using test::kEps;
using test::sum_tolerance;
using test::TensorPair;

TEST(CudaBlockOps, TauFeatures) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  struct Shape {
    int64_t n, rows, k;
  };
  uint64_t seed = 1;
  for (const Shape& s : {Shape{2, 1, 1}, Shape{2, 37, 45}, Shape{3, 70, 9}, Shape{1, 5, 3}}) {
    SCOPED_TRACE(std::to_string(s.n) + " streams, " + std::to_string(s.rows) + "x" + std::to_string(s.k));
    // Values on a coarse grid {−1, −0.5, ..., 1}: many exact ties between streams (sign(0) = 0).
    Rng rng(seed++);
    std::vector<float> values(static_cast<size_t>(s.n * s.rows * s.k));
    for (float& v : values) v = static_cast<float>(static_cast<int>(rng.below(5)) - 2) * 0.5f;
    const TensorPair streams = pair.from_host({s.n, s.rows, s.k}, values);
    const TensorPair features = pair.constant({s.rows, (s.n + 1) * s.k}, 5.0f);
    pair.run([&](Backend& b, bool c) { b.tau_features_forward(features.on(c), streams.on(c)); });
    EXPECT_TRUE(pair.identical(features));  // copies, and Σ_{i<j} |s_i − s_j| in the CPU's order

    const TensorPair dfeatures = pair.random({s.rows, (s.n + 1) * s.k}, seed++);
    const TensorPair dstreams = pair.random({s.n, s.rows, s.k}, seed++);
    const auto backward = [&](Backend& b, bool c) {
      b.tau_features_backward(dstreams.on(c), dfeatures.on(c), streams.on(c));
    };
    EXPECT_TRUE(test::deterministic(pair, {dstreams}, [&](Backend& b) { backward(b, true); }));
    pair.run(backward);
    // dstreams + (dfeatures_i + pull·ddis), |pull| ≤ n − 1: the product may be fused.
    EXPECT_TRUE(pair.close(dstreams, kEps * static_cast<double>(s.n), kEps));
  }
}

struct DaamCase {
  int64_t rows, dim, groups, gaussians;
  bool residual;
};

std::string daam_name(const DaamCase& d) {
  return std::to_string(d.rows) + "x" + std::to_string(d.dim) + " g=" + std::to_string(d.groups) +
         " N=" + std::to_string(d.gaussians) + (d.residual ? " residual" : " plain");
}

// One feature per group (σ² = 0, rstd = 1/√eps); rows in two 64-row chunks, m = 16; m = 45 (two
// lane passes of a warp); a small case for tight sums. N = 1 runs without mix, N = 3 with it.
const std::vector<DaamCase> kDaamCases = {
    {1, 3, 3, 1, false}, {70, 48, 3, 1, true},  {70, 48, 3, 3, false}, {5, 12, 3, 3, true},
    {9, 45, 1, 3, true}, {9, 45, 1, 1, false},
};

TEST(CudaBlockOps, DaamGateForwardAndDensity) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  uint64_t seed = 20;
  for (const DaamCase& d : kDaamCases) {
    SCOPED_TRACE(daam_name(d));
    const int64_t g = d.groups, N = d.gaussians, m = d.dim / d.groups;
    const TensorPair x = pair.random({d.rows, d.dim}, seed++);
    const TensorPair offset = pair.random({g, N}, seed++, -0.5f, 0.5f), scale = pair.random({g, N}, seed++, 1.0f, 3.0f);
    const TensorPair mix = N > 1 ? pair.random({g, N}, seed++) : TensorPair{};
    const TensorPair out = pair.zeros({d.rows, d.dim}), mean = pair.zeros({d.rows, g}), rstd = pair.zeros({d.rows, g});
    pair.run([&](Backend& b, bool c) {
      b.daam_gate_forward(out.on(c), mean.on(c), rstd.on(c), x.on(c), offset.on(c), scale.on(c), mix.on(c), 1e-5f,
                          d.residual);
    });
    // μ: two orders of a sum of m terms |x| ≤ 1, divided by m. σ²: a sum of the m squares c²,
    // within (m + 1)ε of Σc² (μ's error enters only to second order, Σc = 0); rstd = (σ²+eps)^-½
    // halves that, plus the square root and the division, on either side.
    EXPECT_TRUE(pair.close(mean, static_cast<double>(m + 1) * kEps, kEps));
    EXPECT_TRUE(pair.close(rstd, 0.0, static_cast<double>(m + 3) * kEps));
    // u = (x − μ − δ)·rstd moves by rstd·δμ + |u|·δrstd/rstd ≤ 3(m + 1)ε + |u|(m/2 + 4)ε (rstd ≤ 3
    // for these inputs); e = exp(−u²/2c) by e·|u|·δu/c, largest where |u|·e is (|u| = √c, c ≥ 1):
    // 0.61·3(m + 1)ε + 0.74·(m/2 + 4)ε ≤ 3(m + 2)ε absolute, plus exp's 3 ulp and the products
    // (6ε relative). out = x·gate (+ x) with |x| ≤ 1 and Σπ = 1 keeps that bound.
    const double gate_atol = 3.0 * static_cast<double>(m + 2) * kEps;
    EXPECT_TRUE(pair.close(out, gate_atol, 6 * kEps));

    const TensorPair density = pair.zeros({d.rows, g});
    pair.run([&](Backend& b, bool c) {
      b.daam_density_forward(density.on(c), x.on(c), mean.on(c), rstd.on(c), offset.on(c), scale.on(c), mix.on(c));
    });
    // The mean of m gates ≤ 1: the gate's bound plus the sum's.
    EXPECT_TRUE(pair.close(density, gate_atol + static_cast<double>(m + 1) * kEps, 6 * kEps));
  }
}

TEST(CudaBlockOps, DaamGateBackward) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  uint64_t seed = 100;
  for (const DaamCase& d : kDaamCases) {
    SCOPED_TRACE(daam_name(d));
    const int64_t g = d.groups, N = d.gaussians, m = d.dim / d.groups;
    const TensorPair x = pair.random({d.rows, d.dim}, seed++);
    const TensorPair offset = pair.random({g, N}, seed++, -0.5f, 0.5f), scale = pair.random({g, N}, seed++, 1.0f, 3.0f);
    const TensorPair mix = N > 1 ? pair.random({g, N}, seed++) : TensorPair{};
    const TensorPair out = pair.zeros({d.rows, d.dim}), mean = pair.zeros({d.rows, g}), rstd = pair.zeros({d.rows, g});
    // Both backends' backward read the CPU's statistics, so only the backward's own rounding differs.
    pair.cpu().daam_gate_forward(out.cpu, mean.cpu, rstd.cpu, x.cpu, offset.cpu, scale.cpu, mix.cpu, 1e-5f, d.residual);
    for (const TensorPair* t : {&mean, &rstd}) pair.cuda().copy_from_host(t->cuda, pair.cpu_values(*t).data());

    const TensorPair dout = pair.random({d.rows, d.dim}, seed++), dx = pair.random({d.rows, d.dim}, seed++);
    const TensorPair doffset = pair.random({g, N}, seed++), dscale = pair.random({g, N}, seed++);
    const TensorPair dmix = N > 1 ? pair.random({g, N}, seed++) : TensorPair{};
    const auto backward = [&](Backend& b, bool c) {
      b.daam_gate_backward(dx.on(c), doffset.on(c), dscale.on(c), dmix.on(c), dout.on(c), x.on(c), mean.on(c),
                           rstd.on(c), offset.on(c), scale.on(c), mix.on(c), d.residual);
    };
    std::vector<TensorPair> grads = {dx, doffset, dscale};
    if (N > 1) grads.push_back(dmix);
    EXPECT_TRUE(test::deterministic(pair, grads, [&](Backend& b) { backward(b, true); }));
    const std::vector<float> dx_start = pair.cpu_values(dx);
    pair.run(backward);

    // dx: every term carries the Gaussians' relative error (≤ 3(m + 2)ε, as in the forward) and
    // the μ and σ² paths are sums over the group's m·N terms: relative to the size S of the
    // largest contribution, (3(m + 2) + m·N + 1)ε.
    const std::vector<float> dx_cpu = pair.cpu_values(dx);
    double contribution = 0.0;
    for (size_t i = 0; i < dx_cpu.size(); ++i)
      contribution = std::max(contribution, std::abs(static_cast<double>(dx_cpu[i]) - dx_start[i]));
    EXPECT_TRUE(pair.close(dx, static_cast<double>(3 * (m + 2) + m * N + 1) * kEps * contribution, kEps));
    // doffset, dscale, dπ: sums over rows·m terms, each ≤ 2 (|du·rstd| ≤ 0.61·3 with |gx| ≤ 1;
    // t·u²/2c² ≤ 1/(e·c); gx·e ≤ 1), in another order, each term within 3(m + 2)ε relative;
    // dmix = π·(dπ − Σπ·dπ) ≤ 2 max|dπ|.
    const double terms = static_cast<double>(d.rows * m), abs_sum = 2.0 * terms;
    const double param_atol = sum_tolerance(d.rows * m, abs_sum) + 3.0 * static_cast<double>(m + 2) * kEps * abs_sum;
    EXPECT_TRUE(pair.close(doffset, param_atol, kEps));
    EXPECT_TRUE(pair.close(dscale, param_atol, kEps));
    if (N > 1) EXPECT_TRUE(pair.close(dmix, 2 * param_atol, kEps));
  }
}

TEST(CudaBlockOps, HeadGate) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  // [R, H, hd] and [B, T, H, hd]: one element; odd sizes; head_dim above a warp.
  const std::vector<std::vector<int64_t>> shapes = {{1, 1, 1}, {37, 3, 5}, {2, 9, 2, 40}};
  uint64_t seed = 200;
  for (const auto& shape : shapes) {
    SCOPED_TRACE(testing::PrintToString(shape));
    const int64_t heads = shape[shape.size() - 2], head_dim = shape.back();
    const int64_t rows = [&] {
      int64_t r = 1;
      for (size_t i = 0; i + 2 < shape.size(); ++i) r *= shape[i];
      return r;
    }();
    const float gain = 1.75f;
    const TensorPair x = pair.random(shape, seed++), gate = pair.random({rows, heads}, seed++, 0.0f, 1.0f);
    const TensorPair out = pair.zeros(shape);
    pair.run([&](Backend& b, bool c) { b.head_gate_forward(out.on(c), x.on(c), gate.on(c), gain); });
    EXPECT_TRUE(pair.identical(out));  // x·(gain·gate): two IEEE products

    const TensorPair dout = pair.random(shape, seed++), dx = pair.random(shape, seed++);
    const TensorPair dgate = pair.random({rows, heads}, seed++);
    const auto backward = [&](Backend& b, bool c) {
      b.head_gate_backward(dx.on(c), dgate.on(c), dout.on(c), x.on(c), gate.on(c), gain);
    };
    EXPECT_TRUE(test::deterministic(pair, {dx, dgate}, [&](Backend& b) { backward(b, true); }));
    pair.run(backward);
    EXPECT_TRUE(pair.close(dx, kEps * gain, kEps));  // dx + dout·(gain·gate)
    // dgate + gain·Σ_d dout·x over hd terms ≤ 1.
    EXPECT_TRUE(pair.close(dgate, gain * sum_tolerance(head_dim, static_cast<double>(head_dim)), kEps));
  }
}

TEST(CudaBlockOps, ZeroRowsLaunchNothing) {
  // A grid of 0 blocks is an error: ops on zero rows return after their checks, and the row sums
  // add nothing to the parameter gradients.
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  const TensorPair x = pair.zeros({0, 6}), out = pair.zeros({0, 6}), mean = pair.zeros({0, 2}), rstd = pair.zeros({0, 2});
  const TensorPair offset = pair.random({2, 1}, 300), scale = pair.random({2, 1}, 301, 1.0f, 2.0f);
  const TensorPair doffset = pair.random({2, 1}, 302), dscale = pair.random({2, 1}, 303);
  const TensorPair streams = pair.zeros({2, 0, 3}), features = pair.zeros({0, 9});
  pair.run([&](Backend& b, bool c) {
    b.daam_gate_forward(out.on(c), mean.on(c), rstd.on(c), x.on(c), offset.on(c), scale.on(c), Tensor{}, 1e-5f, false);
    b.daam_gate_backward(out.on(c), doffset.on(c), dscale.on(c), Tensor{}, x.on(c), x.on(c), mean.on(c), rstd.on(c),
                         offset.on(c), scale.on(c), Tensor{}, true);
    b.daam_density_forward(mean.on(c), x.on(c), mean.on(c), rstd.on(c), offset.on(c), scale.on(c), Tensor{});
    b.tau_features_forward(features.on(c), streams.on(c));
  });
  EXPECT_TRUE(pair.identical(doffset));
  EXPECT_TRUE(pair.identical(dscale));
}

TEST(CudaBlockOps, BadArgumentsAreTheCpuErrors) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  const TensorPair streams = pair.random({2, 4, 3}, 400), features = pair.random({4, 9}, 401);
  const TensorPair wrong_features = pair.random({4, 8}, 402), flat = pair.random({4, 3}, 403);
  const TensorPair x = pair.random({4, 6}, 404), out = pair.random({4, 6}, 405), stats = pair.random({4, 2}, 406);
  const TensorPair off21 = pair.random({2, 1}, 407), off23 = pair.random({2, 3}, 408), off41 = pair.random({4, 1}, 409);
  const TensorPair mix23 = pair.random({2, 3}, 410), mix22 = pair.random({2, 2}, 411), d23 = pair.random({2, 3}, 412);
  const TensorPair attn = pair.random({4, 2, 3}, 413), gate8 = pair.random({4, 2}, 414), gate5 = pair.random({5}, 415);
  using F = std::function<void(Backend&, bool)>;
  const std::vector<F> calls = {
      [&](Backend& b, bool c) { b.tau_features_forward(wrong_features.on(c), streams.on(c)); },
      [&](Backend& b, bool c) { b.tau_features_forward(features.on(c), flat.on(c)); },
      [&](Backend& b, bool c) { b.tau_features_forward(features.on(c), streams.on(c).slice(0, 0)); },
      [&](Backend& b, bool c) { b.tau_features_backward(flat.on(c), features.on(c), streams.on(c)); },
      [&](Backend& b, bool c) { b.tau_features_backward(streams.on(c), features.on(c), streams.on(c)); },
      [&](Backend& b, bool c) {  // 6 features in 4 groups
        b.daam_gate_forward(out.on(c), stats.on(c), stats.on(c), x.on(c), off41.on(c), off41.on(c), Tensor{}, 1e-5f, false);
      },
      [&](Backend& b, bool c) {  // a mixture without its weights
        b.daam_gate_forward(out.on(c), stats.on(c), stats.on(c), x.on(c), off23.on(c), off23.on(c), Tensor{}, 1e-5f, false);
      },
      [&](Backend& b, bool c) {
        b.daam_gate_forward(out.on(c), stats.on(c), stats.on(c), x.on(c), off23.on(c), off23.on(c), mix22.on(c), 1e-5f,
                            false);
      },
      [&](Backend& b, bool c) {
        b.daam_gate_forward(out.on(c), flat.on(c), stats.on(c), x.on(c), off21.on(c), off21.on(c), Tensor{}, 1e-5f, true);
      },
      [&](Backend& b, bool c) {
        b.daam_gate_forward(out.on(c), stats.on(c), stats.on(c), x.on(c), off21.on(c), off21.on(c), Tensor{}, 0.0f, true);
      },
      [&](Backend& b, bool c) {
        b.daam_gate_forward(x.on(c), stats.on(c), stats.on(c), x.on(c), off21.on(c), off21.on(c), Tensor{}, 1e-5f, true);
      },
      [&](Backend& b, bool c) {  // dmix given without mix
        b.daam_gate_backward(out.on(c), off21.on(c), off21.on(c), d23.on(c), x.on(c), x.on(c), stats.on(c), stats.on(c),
                             off21.on(c), off21.on(c), Tensor{}, false);
      },
      [&](Backend& b, bool c) {
        b.daam_gate_backward(out.on(c), d23.on(c), off21.on(c), Tensor{}, x.on(c), x.on(c), stats.on(c), stats.on(c),
                             off21.on(c), off21.on(c), Tensor{}, false);
      },
      [&](Backend& b, bool c) {
        b.daam_gate_backward(x.on(c), off23.on(c), d23.on(c), mix22.on(c), out.on(c), x.on(c), stats.on(c), stats.on(c),
                             off23.on(c), off23.on(c), mix23.on(c), false);
      },
      [&](Backend& b, bool c) {
        b.daam_density_forward(flat.on(c), x.on(c), stats.on(c), stats.on(c), off21.on(c), off21.on(c), Tensor{});
      },
      [&](Backend& b, bool c) { b.head_gate_forward(out.on(c), x.on(c), gate8.on(c), 1.0f); },
      [&](Backend& b, bool c) { b.head_gate_forward(out.on(c).view({4, 2, 3}), attn.on(c), gate5.on(c), 1.0f); },
      [&](Backend& b, bool c) { b.head_gate_forward(attn.on(c), attn.on(c), gate8.on(c), 1.0f); },
      [&](Backend& b, bool c) {
        b.head_gate_backward(attn.on(c), gate5.on(c), out.on(c).view({4, 2, 3}), attn.on(c), gate8.on(c), 1.0f);
      },
      [&](Backend& b, bool c) {
        b.head_gate_backward(attn.on(c), gate8.on(c), attn.on(c), out.on(c).view({4, 2, 3}), gate8.on(c), 1.0f);
      },
  };
  for (size_t i = 0; i < calls.size(); ++i) {
    SCOPED_TRACE("call " + std::to_string(i));
    test::expect_same_error(pair, calls[i]);
  }
}

}  // namespace
}  // namespace dg
