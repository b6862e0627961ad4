// The pluggable block ops (backend.h, "Pluggable block ops"): finite-difference gradient checks of
// every kernel in double precision (L = Σ w ⊙ out for a random w; the analytic backward fed dout = w
// must match central differences for every input element), forward values against direct
// formulas, the float CpuBackend against the double kernels, the accumulate contract, results that
// do not depend on the thread count, and the shape checks' messages.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <functional>
#include <string>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/ops_blocks.h"
#include "cpu_test_util.h"

namespace dg::test {
namespace {

using Vec = std::vector<double>;
using FVec = std::vector<float>;
Vec zeros(size_t n) { return Vec(n, 0.0); }
Vec rounded(const Vec& v) { return to_double(to_float(v)); }

// ---- τ-fusion features ------------------------------------------------------------------------------

// Streams whose pairwise differences all exceed `gap`, so a finite-difference step never crosses
// the kink of |·| at 0.
Vec distinct_streams(int64_t n, int64_t rows, int64_t k, uint64_t seed, double gap = 1e-3) {
  for (uint64_t attempt = 0;; ++attempt) {
    Vec s = random_vector(n * rows * k, seed + 1000 * attempt);
    bool ok = true;
    for (int64_t i = 0; i < n && ok; ++i)
      for (int64_t j = i + 1; j < n && ok; ++j)
        for (int64_t e = 0; e < rows * k && ok; ++e) ok = std::abs(s[i * rows * k + e] - s[j * rows * k + e]) > gap;
    if (ok) return s;
  }
}

void check_tau_features(int64_t n, int64_t rows, int64_t k) {
  SCOPED_TRACE("n=" + std::to_string(n) + " rows=" + std::to_string(rows) + " k=" + std::to_string(k));
  Vec s = distinct_streams(n, rows, k, 100 + static_cast<uint64_t>(n));
  const int64_t width = (n + 1) * k;
  const Vec w = random_vector(rows * width, 200);
  Vec features(rows * width);
  cpu::tau_features_forward(features.data(), s.data(), n, rows, k);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < k; ++c) {
      double dis = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        EXPECT_EQ(features[r * width + i * k + c], s[(i * rows + r) * k + c]);
        for (int64_t j = i + 1; j < n; ++j) dis += std::abs(s[(i * rows + r) * k + c] - s[(j * rows + r) * k + c]);
      }
      EXPECT_NEAR(features[r * width + n * k + c], dis, 1e-14);
    }
  auto loss = [&] {
    Vec out(rows * width);
    cpu::tau_features_forward(out.data(), s.data(), n, rows, k);
    return dot(w, out);
  };
  Vec ds = zeros(s.size());
  cpu::tau_features_backward(ds.data(), w.data(), s.data(), n, rows, k);
  expect_gradient("dstreams", s, ds, loss);
}

TEST(BlockOpsGradient, TauFeaturesTwoStreams) { check_tau_features(2, 5, 7); }
TEST(BlockOpsGradient, TauFeaturesThreeStreams) { check_tau_features(3, 3, 5); }
TEST(BlockOpsGradient, TauFeaturesFiveStreams) { check_tau_features(5, 2, 3); }

TEST(BlockOpsGradient, TauFeaturesAbsHasZeroGradientAtTies) {
  // Two equal streams: D = 0 there and |·|'s gradient at 0 is taken as 0, so only the copied
  // columns pass gradient back.
  const int64_t n = 2, rows = 1, k = 3;
  const Vec s = {0.5, -1.0, 2.0, 0.5, -1.0, 2.0};
  Vec dfeatures = {1, 2, 3, 4, 5, 6, 10, 20, 30};
  Vec ds = zeros(s.size());
  cpu::tau_features_backward(ds.data(), dfeatures.data(), s.data(), n, rows, k);
  EXPECT_EQ(ds, (Vec{1, 2, 3, 4, 5, 6}));
}

// ---- GELU, gated add ----------------------------------------------------------------------------------

TEST(BlockOpsGradient, Gelu) {
  const int64_t n = 41;
  Vec x = random_vector(n, 1, -3.0, 3.0);
  const Vec w = random_vector(n, 2);
  auto loss = [&] {
    Vec out(n);
    cpu::gelu_forward(out.data(), x.data(), n);
    return dot(w, out);
  };
  Vec dx = zeros(n);
  cpu::gelu_backward(dx.data(), w.data(), x.data(), n);
  expect_gradient("dx", x, dx, loss);
  // torch.nn.functional.gelu (erf form) at fixed points, in float64.
  Vec probe = {-1.0, 0.0, 1.0, 2.5}, out(4);
  cpu::gelu_forward(out.data(), probe.data(), 4);
  EXPECT_NEAR(out[0], -0.15865525393145707, 1e-15);
  EXPECT_EQ(out[1], 0.0);
  EXPECT_NEAR(out[2], 0.8413447460685429, 1e-15);
  EXPECT_NEAR(out[3], 2.4844758366855597, 1e-15);
}

TEST(BlockOpsGradient, GatedAdd) {
  const int64_t rows = 5, dim = 7;
  Vec x = random_vector(rows * dim, 3), gate = random_vector(rows * dim, 4, 0.0, 1.0);
  Vec s = random_vector(dim, 5), y = random_vector(rows * dim, 6);
  const Vec w = random_vector(rows * dim, 7);
  auto loss = [&] {
    Vec out = x;
    cpu::gated_add_forward(out.data(), gate.data(), s.data(), y.data(), rows, dim);
    return dot(w, out);
  };
  Vec dy = zeros(y.size()), dgate = zeros(gate.size()), ds = zeros(s.size());
  cpu::gated_add_backward(dy.data(), dgate.data(), ds.data(), w.data(), gate.data(), s.data(), y.data(), rows, dim);
  expect_gradient("dy", y, dy, loss);
  expect_gradient("dgate", gate, dgate, loss);
  expect_gradient("ds", s, ds, loss);
  expect_gradient("dx (passes through)", x, w, loss);
}

TEST(BlockOps, GatedAddWithHalfGateAndDoubledScaleIsExact) {
  // The τ-fusion init rule: σ(0) = 0.5 and s = 2m reproduce m ⊙ y bit for bit.
  FVec x(4, 0.0f), gate(4, 0.5f), s = {2.0f, 0.0f, 0.6f, -3.0f}, y = {1.1f, -7.3f, 0.3f, 1e-30f};
  CpuBackend backend;
  backend.gated_add_forward(view(x, {1, 4}), view(gate, {1, 4}), view(s, {4}), view(y, {1, 4}));
  EXPECT_EQ(x[0], y[0]);
  EXPECT_EQ(x[1], 0.0f);
  EXPECT_EQ(x[2], 0.3f * y[2]);
  EXPECT_EQ(x[3], -1.5f * y[3]);
}

// ---- DAAM ---------------------------------------------------------------------------------------------

struct DaamCase {
  int64_t rows, dim, groups, gaussians;
  bool residual;
};

// The gate straight from the definition, for one row (no shared code with the kernel).
Vec naive_daam_gate(const Vec& x, int64_t r, const DaamCase& c, const Vec& offset, const Vec& scale, const Vec& mix,
                    double eps) {
  const int64_t m = c.dim / c.groups, N = c.gaussians;
  Vec gate(c.dim, 0.0);
  for (int64_t grp = 0; grp < c.groups; ++grp) {
    const double* xg = x.data() + r * c.dim + grp * m;
    double mu = 0.0, var = 0.0;
    for (int64_t f = 0; f < m; ++f) mu += xg[f] / m;
    for (int64_t f = 0; f < m; ++f) var += (xg[f] - mu) * (xg[f] - mu) / m;
    double zsum = 0.0;
    for (int64_t j = 0; j < N; ++j) zsum += mix.empty() ? 1.0 : std::exp(mix[grp * N + j]);
    for (int64_t f = 0; f < m; ++f)
      for (int64_t j = 0; j < N; ++j) {
        const double pi = mix.empty() ? 1.0 : std::exp(mix[grp * N + j]) / zsum;
        const double dlt = xg[f] - (mu + offset[grp * N + j]);
        gate[grp * m + f] += pi * std::exp(-dlt * dlt / (2.0 * scale[grp * N + j] * (var + eps)));
      }
  }
  return gate;
}

struct DaamInputs {
  Vec x, offset, scale, mix;
};
DaamInputs daam_inputs(const DaamCase& c, uint64_t seed) {
  DaamInputs in;
  in.x = random_vector(c.rows * c.dim, seed, -2.0, 2.0);
  in.offset = random_vector(c.groups * c.gaussians, seed + 1, -0.5, 0.5);
  in.scale = random_vector(c.groups * c.gaussians, seed + 2, 0.5, 3.0);
  if (c.gaussians > 1) in.mix = random_vector(c.groups * c.gaussians, seed + 3, -1.0, 1.0);
  return in;
}

void check_daam(const DaamCase& c) {
  SCOPED_TRACE("rows=" + std::to_string(c.rows) + " dim=" + std::to_string(c.dim) + " g=" + std::to_string(c.groups) +
               " N=" + std::to_string(c.gaussians) + (c.residual ? " residual" : ""));
  const double eps = 1e-5;
  const cpu::DaamShape shape{c.rows, c.dim, c.groups, c.gaussians};
  DaamInputs in = daam_inputs(c, 300 + static_cast<uint64_t>(c.dim * 7 + c.gaussians));
  double* mixp = in.mix.empty() ? nullptr : in.mix.data();
  const Vec w = random_vector(c.rows * c.dim, 400);
  Vec out(c.rows * c.dim), mean(c.rows * c.groups), rstd(mean.size()), density(mean.size());
  cpu::daam_gate_forward(out.data(), mean.data(), rstd.data(), in.x.data(), in.offset.data(), in.scale.data(), mixp,
                         eps, c.residual, shape);
  cpu::daam_density_forward(density.data(), in.x.data(), mean.data(), rstd.data(), in.offset.data(), in.scale.data(),
                            mixp, shape);
  const int64_t m = c.dim / c.groups;
  for (int64_t r = 0; r < c.rows; ++r) {
    const Vec gate = naive_daam_gate(in.x, r, c, in.offset, in.scale, in.mix, eps);
    for (int64_t f = 0; f < c.dim; ++f) {
      const double xv = in.x[r * c.dim + f];
      ASSERT_NEAR(out[r * c.dim + f], c.residual ? xv + xv * gate[f] : xv * gate[f], 1e-12) << r << "," << f;
    }
    for (int64_t grp = 0; grp < c.groups; ++grp) {
      double avg = 0.0;
      for (int64_t f = 0; f < m; ++f) avg += gate[grp * m + f] / m;
      EXPECT_NEAR(density[r * c.groups + grp], avg, 1e-12);
    }
  }

  auto loss = [&] {
    Vec o(out.size()), mu(mean.size()), rs(mean.size());
    cpu::daam_gate_forward(o.data(), mu.data(), rs.data(), in.x.data(), in.offset.data(), in.scale.data(),
                           in.mix.empty() ? nullptr : in.mix.data(), eps, c.residual, shape);
    return dot(w, o);
  };
  Vec dx = zeros(in.x.size()), doff = zeros(in.offset.size()), dsc = zeros(in.scale.size()),
      dmix = zeros(in.mix.size());
  cpu::daam_gate_backward(dx.data(), doff.data(), dsc.data(), in.mix.empty() ? nullptr : dmix.data(), w.data(),
                          in.x.data(), mean.data(), rstd.data(), in.offset.data(), in.scale.data(), mixp, c.residual,
                          shape);
  expect_gradient("dx", in.x, dx, loss, 1e-6);
  expect_gradient("doffset", in.offset, doff, loss, 1e-6);
  expect_gradient("dscale", in.scale, dsc, loss, 1e-6);
  if (!in.mix.empty()) expect_gradient("dmix", in.mix, dmix, loss, 1e-6);
}

TEST(BlockOpsGradient, DaamSingleGroup) { check_daam({3, 7, 1, 1, false}); }
TEST(BlockOpsGradient, DaamThreeGroups) { check_daam({4, 12, 3, 1, false}); }
TEST(BlockOpsGradient, DaamResidual) { check_daam({3, 15, 5, 1, true}); }
TEST(BlockOpsGradient, DaamMixtureOfThree) { check_daam({3, 12, 4, 3, false}); }
TEST(BlockOpsGradient, DaamMixtureResidualOddGroups) { check_daam({2, 9, 3, 3, true}); }
TEST(BlockOpsGradient, DaamMixtureOfOneEqualsPlain) { check_daam({2, 8, 2, 1, true}); }
// One feature per group: σ² = 0, the gate depends only on the offset.
TEST(BlockOpsGradient, DaamGroupsOfOneFeature) { check_daam({2, 4, 4, 2, false}); }
// More rows than one reduction chunk (64): the parameter gradients are summed across chunks.
TEST(BlockOpsGradient, DaamAcrossRowChunks) { check_daam({70, 4, 2, 2, true}); }

TEST(BlockOps, DaamMixtureWithOneGaussianMatchesThePlainGate) {
  // A single-component mixture has π = softmax([w]) = 1, whatever w is.
  const DaamCase c{3, 10, 2, 1, false};
  const cpu::DaamShape shape{c.rows, c.dim, c.groups, 1};
  DaamInputs in = daam_inputs(c, 7);
  const Vec w = {0.7, -2.0};
  Vec plain(c.rows * c.dim), mixed(plain.size()), mu(c.rows * c.groups), rs(mu.size());
  cpu::daam_gate_forward(plain.data(), mu.data(), rs.data(), in.x.data(), in.offset.data(), in.scale.data(),
                         static_cast<const double*>(nullptr), 1e-5, false, shape);
  cpu::daam_gate_forward(mixed.data(), mu.data(), rs.data(), in.x.data(), in.offset.data(), in.scale.data(), w.data(),
                         1e-5, false, shape);
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_NEAR(mixed[i], plain[i], 1e-15);
}

// ---- head gate ------------------------------------------------------------------------------------------

TEST(BlockOpsGradient, HeadGate) {
  const int64_t rows = 5, heads = 3, hd = 7;
  for (double gain : {1.0, 2.0}) {
    SCOPED_TRACE("gain " + std::to_string(gain));
    Vec x = random_vector(rows * heads * hd, 8), gate = random_vector(rows * heads, 9, 0.0, 1.0);
    const Vec w = random_vector(x.size(), 10);
    auto loss = [&] {
      Vec out(x.size());
      cpu::head_gate_forward(out.data(), x.data(), gate.data(), gain, rows, heads, hd);
      return dot(w, out);
    };
    Vec out(x.size());
    cpu::head_gate_forward(out.data(), x.data(), gate.data(), gain, rows, heads, hd);
    EXPECT_DOUBLE_EQ(out[(2 * heads + 1) * hd + 3], x[(2 * heads + 1) * hd + 3] * gain * gate[2 * heads + 1]);
    Vec dx = zeros(x.size()), dgate = zeros(gate.size());
    cpu::head_gate_backward(dx.data(), dgate.data(), w.data(), x.data(), gate.data(), gain, rows, heads, hd);
    expect_gradient("dx", x, dx, loss);
    expect_gradient("dgate", gate, dgate, loss);
  }
}

// ---- the float backend against the double kernels ------------------------------------------------------

class BlockBackendTest : public ::testing::Test {
 protected:
  CpuBackend backend;
};

TEST_F(BlockBackendTest, TauFeaturesMatchReference) {
  // rows × width × n above the parallel threshold.
  const int64_t n = 3, rows = 150, k = 70, width = (n + 1) * k;
  const Vec s = rounded(random_vector(n * rows * k, 11)), dfeat = rounded(random_vector(rows * width, 12));
  FVec fs = to_float(s), fdfeat = to_float(dfeat), ffeat(rows * width), fds(s.size());
  backend.tau_features_forward(view(ffeat, {rows, width}), view(fs, {n, rows, k}));
  backend.tau_features_backward(view(fds, {n, rows, k}), view(fdfeat, {rows, width}), view(fs, {n, rows, k}));
  Vec feat(ffeat.size()), ds(s.size(), 0.0);
  cpu::tau_features_forward(feat.data(), s.data(), n, rows, k);
  cpu::tau_features_backward(ds.data(), dfeat.data(), s.data(), n, rows, k);
  expect_close("features", ffeat, feat);
  expect_close("dstreams", fds, ds);
}

TEST_F(BlockBackendTest, GeluAndGatedAddMatchReference) {
  const int64_t rows = 260, dim = 130;  // past the parallel threshold; dim spans three column blocks
  const Vec x = rounded(random_vector(rows * dim, 13, -4, 4)), dout = rounded(random_vector(rows * dim, 14));
  const Vec gate = rounded(random_vector(rows * dim, 15, 0, 1)), s = rounded(random_vector(dim, 16));
  FVec fx = to_float(x), fdout = to_float(dout), fgate = to_float(gate), fs = to_float(s);
  auto m2 = [&](FVec& v) { return view(v, {rows, dim}); };

  FVec fg(x.size()), fdg(x.size());
  backend.gelu_forward(m2(fg), m2(fx));
  backend.gelu_backward(m2(fdg), m2(fdout), m2(fx));
  Vec g(x.size()), dg(x.size(), 0.0);
  cpu::gelu_forward(g.data(), x.data(), rows * dim);
  cpu::gelu_backward(dg.data(), dout.data(), x.data(), rows * dim);
  expect_close("gelu", fg, g);
  expect_close("gelu dx", fdg, dg);

  FVec facc = fdout, fdy(x.size()), fdgate(x.size()), fds(dim);
  backend.gated_add_forward(m2(facc), m2(fgate), view(fs, {dim}), m2(fx));
  backend.gated_add_backward(m2(fdy), m2(fdgate), view(fds, {dim}), m2(fdout), m2(fgate), view(fs, {dim}), m2(fx));
  Vec acc = dout, dy(x.size(), 0.0), dgate(x.size(), 0.0), ds(dim, 0.0);
  cpu::gated_add_forward(acc.data(), gate.data(), s.data(), x.data(), rows, dim);
  cpu::gated_add_backward(dy.data(), dgate.data(), ds.data(), dout.data(), gate.data(), s.data(), x.data(), rows, dim);
  expect_close("gated_add", facc, acc);
  expect_close("gated_add dy", fdy, dy);
  expect_close("gated_add dgate", fdgate, dgate);
  expect_close("gated_add ds", fds, ds);
}

void compare_daam(CpuBackend& backend, const DaamCase& c) {
  SCOPED_TRACE("rows=" + std::to_string(c.rows) + " dim=" + std::to_string(c.dim) + " g=" + std::to_string(c.groups) +
               " N=" + std::to_string(c.gaussians));
  const float eps = 1e-5f;
  const cpu::DaamShape shape{c.rows, c.dim, c.groups, c.gaussians};
  DaamInputs in = daam_inputs(c, 17);
  for (Vec* v : {&in.x, &in.offset, &in.scale, &in.mix}) *v = rounded(*v);
  const Vec dout = rounded(random_vector(c.rows * c.dim, 18));
  FVec fx = to_float(in.x), foff = to_float(in.offset), fsc = to_float(in.scale), fmix = to_float(in.mix);
  FVec fdout = to_float(dout), fout(in.x.size()), fmean(c.rows * c.groups), frstd(fmean.size()), fdens(fmean.size());
  FVec fdx(in.x.size()), fdoff(foff.size()), fdsc(fsc.size()), fdmix(fmix.size());
  const int64_t g = c.groups, N = c.gaussians;
  const Tensor tmix = in.mix.empty() ? Tensor() : view(fmix, {g, N});
  const Tensor tdmix = in.mix.empty() ? Tensor() : view(fdmix, {g, N});
  auto x2 = [&](FVec& v) { return view(v, {c.rows, c.dim}); };
  backend.daam_gate_forward(x2(fout), view(fmean, {c.rows, g}), view(frstd, {c.rows, g}), x2(fx), view(foff, {g, N}),
                            view(fsc, {g, N}), tmix, eps, c.residual);
  backend.daam_density_forward(view(fdens, {c.rows, g}), x2(fx), view(fmean, {c.rows, g}), view(frstd, {c.rows, g}),
                               view(foff, {g, N}), view(fsc, {g, N}), tmix);
  backend.daam_gate_backward(x2(fdx), view(fdoff, {g, N}), view(fdsc, {g, N}), tdmix, x2(fdout), x2(fx),
                             view(fmean, {c.rows, g}), view(frstd, {c.rows, g}), view(foff, {g, N}), view(fsc, {g, N}),
                             tmix, c.residual);
  const double* mixp = in.mix.empty() ? nullptr : in.mix.data();
  Vec out(in.x.size()), mean(fmean.size()), rstd(fmean.size()), dens(fmean.size());
  Vec dx(in.x.size(), 0.0), doff(foff.size(), 0.0), dsc(fsc.size(), 0.0), dmix(fmix.size(), 0.0);
  cpu::daam_gate_forward(out.data(), mean.data(), rstd.data(), in.x.data(), in.offset.data(), in.scale.data(), mixp,
                         static_cast<double>(eps), c.residual, shape);
  cpu::daam_density_forward(dens.data(), in.x.data(), mean.data(), rstd.data(), in.offset.data(), in.scale.data(),
                            mixp, shape);
  cpu::daam_gate_backward(dx.data(), doff.data(), dsc.data(), mixp ? dmix.data() : nullptr, dout.data(), in.x.data(),
                          mean.data(), rstd.data(), in.offset.data(), in.scale.data(), mixp, c.residual, shape);
  expect_close("out", fout, out);
  expect_close("mean", fmean, mean);
  expect_close("rstd", frstd, rstd);
  expect_close("density", fdens, dens);
  expect_close("dx", fdx, dx, 2e-5);
  // Parameter gradients sum over every row and feature: float accumulates rounding over the sum.
  expect_close("doffset", fdoff, doff, 2e-5);
  expect_close("dscale", fdsc, dsc, 2e-5);
  if (mixp) expect_close("dmix", fdmix, dmix, 2e-5);
}

TEST_F(BlockBackendTest, DaamMatchesReference) {
  compare_daam(backend, {200, 192, 4, 1, false});  // 4 row chunks, parallel
  compare_daam(backend, {130, 96, 3, 3, true});
  compare_daam(backend, {9, 10, 5, 2, false});     // small: the serial path
}

TEST_F(BlockBackendTest, HeadGateMatchesReference) {
  const int64_t batch = 3, seq = 70, heads = 4, hd = 48, rows = batch * seq;
  const Vec x = rounded(random_vector(rows * heads * hd, 19)), gate = rounded(random_vector(rows * heads, 20, 0, 1));
  const Vec dout = rounded(random_vector(x.size(), 21));
  FVec fx = to_float(x), fgate = to_float(gate), fdout = to_float(dout), fout(x.size()), fdx(x.size()), fdg(gate.size());
  auto x4 = [&](FVec& v) { return view(v, {batch, seq, heads, hd}); };
  backend.head_gate_forward(x4(fout), x4(fx), view(fgate, {rows, heads}), 2.0f);
  backend.head_gate_backward(x4(fdx), view(fdg, {rows, heads}), x4(fdout), x4(fx), view(fgate, {rows, heads}), 2.0f);
  Vec out(x.size()), dx(x.size(), 0.0), dg(gate.size(), 0.0);
  cpu::head_gate_forward(out.data(), x.data(), gate.data(), 2.0, rows, heads, hd);
  cpu::head_gate_backward(dx.data(), dg.data(), dout.data(), x.data(), gate.data(), 2.0, rows, heads, hd);
  expect_close("out", fout, out);
  expect_close("dx", fdx, dx);
  expect_close("dgate", fdg, dg);
}

// ---- accumulate semantics and thread-count independence ----------------------------------------------

// Runs `backward` once, then again into the same buffers: every gradient must double.
void expect_doubles(const std::string& what, std::vector<FVec*> grads, const std::function<void()>& backward) {
  for (FVec* g : grads) std::fill(g->begin(), g->end(), 0.0f);
  backward();
  std::vector<FVec> once;
  for (FVec* g : grads) once.push_back(*g);
  backward();
  for (size_t i = 0; i < grads.size(); ++i) {
    bool nonzero = false;
    for (size_t j = 0; j < once[i].size(); ++j) {
      ASSERT_NEAR((*grads[i])[j], 2.0f * once[i][j], 1e-5 * (1.0 + std::abs(once[i][j])))
          << what << " gradient " << i << " element " << j;
      nonzero = nonzero || once[i][j] != 0.0f;
    }
    EXPECT_TRUE(nonzero) << what << " gradient " << i << " is all zero: the test would prove nothing";
  }
}

TEST_F(BlockBackendTest, BackwardsAccumulate) {
  const int64_t n = 3, rows = 6, k = 4, dim = 12, g = 3, N = 2, heads = 3, hd = 4;
  FVec s = to_float(distinct_streams(n, rows, k, 22)), dfeat = to_float(random_vector(rows * (n + 1) * k, 23));
  FVec ds(s.size());
  expect_doubles("tau_features", {&ds}, [&] {
    backend.tau_features_backward(view(ds, {n, rows, k}), view(dfeat, {rows, (n + 1) * k}), view(s, {n, rows, k}));
  });
  FVec x = to_float(random_vector(rows * dim, 24)), dout = to_float(random_vector(rows * dim, 25));
  FVec gate = to_float(random_vector(rows * dim, 26, 0, 1)), sc = to_float(random_vector(dim, 27));
  FVec g1(x.size()), g2(x.size()), g3(dim);
  auto m2 = [&](FVec& v) { return view(v, {rows, dim}); };
  expect_doubles("gelu", {&g1}, [&] { backend.gelu_backward(m2(g1), m2(dout), m2(x)); });
  expect_doubles("gated_add", {&g1, &g2, &g3}, [&] {
    backend.gated_add_backward(m2(g1), m2(g2), view(g3, {dim}), m2(dout), m2(gate), view(sc, {dim}), m2(x));
  });
  FVec off = to_float(random_vector(g * N, 28, -0.5, 0.5)), scale = to_float(random_vector(g * N, 29, 1, 3));
  FVec mix = to_float(random_vector(g * N, 30)), out(x.size()), mean(rows * g), rstd(rows * g);
  FVec doff(g * N), dsc(g * N), dmix(g * N);
  backend.daam_gate_forward(m2(out), view(mean, {rows, g}), view(rstd, {rows, g}), m2(x), view(off, {g, N}),
                            view(scale, {g, N}), view(mix, {g, N}), 1e-5f, true);
  expect_doubles("daam_gate", {&g1, &doff, &dsc, &dmix}, [&] {
    backend.daam_gate_backward(m2(g1), view(doff, {g, N}), view(dsc, {g, N}), view(dmix, {g, N}), m2(dout), m2(x),
                               view(mean, {rows, g}), view(rstd, {rows, g}), view(off, {g, N}), view(scale, {g, N}),
                               view(mix, {g, N}), true);
  });
  FVec hg = to_float(random_vector(rows * heads, 31, 0, 1)), dhg(rows * heads);
  auto h3 = [&](FVec& v) { return view(v, {rows, heads, hd}); };
  expect_doubles("head_gate", {&g1, &dhg}, [&] {
    backend.head_gate_backward(h3(g1), view(dhg, {rows, heads}), h3(dout), h3(x), view(hg, {rows, heads}), 2.0f);
  });
}

TEST_F(BlockBackendTest, DaamParameterGradientsDoNotDependOnTheThreadCount) {
  const int64_t rows = 300, dim = 128, g = 4, N = 3;
  FVec x = to_float(random_vector(rows * dim, 32)), dout = to_float(random_vector(rows * dim, 33));
  FVec off = to_float(random_vector(g * N, 34, -0.5, 0.5)), sc = to_float(random_vector(g * N, 35, 1, 3));
  FVec mix = to_float(random_vector(g * N, 36)), out(x.size()), mean(rows * g), rstd(rows * g);
  auto m2 = [&](FVec& v) { return view(v, {rows, dim}); };
  auto run = [&](int threads) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    FVec dx(x.size()), doff(g * N), dsc(g * N), dmix(g * N);
    backend.daam_gate_forward(m2(out), view(mean, {rows, g}), view(rstd, {rows, g}), m2(x), view(off, {g, N}),
                              view(sc, {g, N}), view(mix, {g, N}), 1e-5f, false);
    backend.daam_gate_backward(m2(dx), view(doff, {g, N}), view(dsc, {g, N}), view(dmix, {g, N}), m2(dout), m2(x),
                               view(mean, {rows, g}), view(rstd, {rows, g}), view(off, {g, N}), view(sc, {g, N}),
                               view(mix, {g, N}), false);
    omp_set_num_threads(saved);
    FVec all = dx;
    for (const FVec* v : {&doff, &dsc, &dmix}) all.insert(all.end(), v->begin(), v->end());
    return all;
  };
  const FVec one = run(1), three = run(3);
  ASSERT_EQ(one.size(), three.size());
  for (size_t i = 0; i < one.size(); ++i) ASSERT_EQ(one[i], three[i]) << "element " << i;
}

// ---- shape checks ---------------------------------------------------------------------------------------

void expect_error_mentions(const std::function<void()>& call, const std::vector<std::string>& needles) {
  try {
    call();
    ADD_FAILURE() << "expected dg::Error mentioning " << needles.front();
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const std::string& needle : needles)
      EXPECT_NE(message.find(needle), std::string::npos) << "message \"" << message << "\" lacks \"" << needle << "\"";
  }
}

TEST_F(BlockBackendTest, ShapeMismatchesThrowWithOpName) {
  FVec a(96), b(96), c(96), d(96), e(96);
  expect_error_mentions([&] { backend.tau_features_forward(view(a, {4, 8}), view(b, {2, 4, 4})); },
                        {"tau_features_forward", "features [4, 8]", "[4, 12]"});
  expect_error_mentions([&] { backend.tau_features_forward(view(a, {4, 12}), view(b, {8, 4})); },
                        {"tau_features_forward", "streams", "3 dimensions"});
  expect_error_mentions(
      [&] { backend.tau_features_backward(view(a, {2, 4, 3}), view(b, {4, 12}), view(c, {2, 4, 4})); },
      {"tau_features_backward", "dstreams [2, 4, 3]"});
  expect_error_mentions([&] { backend.gelu_forward(view(a, {8}), view(b, {9})); }, {"gelu_forward", "[9]"});
  expect_error_mentions(
      [&] { backend.gated_add_forward(view(a, {4, 8}), view(b, {4, 8}), view(c, {7}), view(d, {4, 8})); },
      {"gated_add_forward", "s [7]"});
  expect_error_mentions(
      [&] { backend.gated_add_forward(view(a, {4, 8}), view(a, {4, 8}), view(c, {8}), view(d, {4, 8})); },
      {"gated_add_forward", "share memory"});
  expect_error_mentions(
      [&] {
        backend.daam_gate_forward(view(a, {4, 10}), view(b, {12}), view(c, {12}), view(d, {4, 10}), view(e, {3, 1}),
                                  view(e, {3, 1}), Tensor(), 1e-5f, false);
      },
      {"daam_gate_forward", "not divisible into 3 groups"});
  expect_error_mentions(
      [&] {
        backend.daam_gate_forward(view(a, {4, 12}), view(b, {12}), view(c, {12}), view(d, {4, 12}), view(e, {3, 2}),
                                  view(e, {3, 2}), Tensor(), 1e-5f, false);
      },
      {"daam_gate_forward", "mixture needs its weights"});
  expect_error_mentions(
      [&] {
        backend.daam_gate_forward(view(a, {4, 12}), view(b, {8}), view(c, {12}), view(d, {4, 12}), view(e, {3, 1}),
                                  view(e, {3, 1}), Tensor(), 1e-5f, false);
      },
      {"daam_gate_forward", "mean [8]", "one per row and group"});
  expect_error_mentions(
      [&] {
        backend.daam_gate_backward(view(a, {4, 12}), view(b, {3}), view(b, {3}), view(c, {3}), view(d, {4, 12}),
                                   view(e, {4, 12}), view(c, {12}), view(c, {12}), view(b, {3, 1}), view(b, {3, 1}),
                                   Tensor(), false);
      },
      {"daam_gate_backward", "dmix must be empty exactly when mix is"});
  expect_error_mentions(
      [&] { backend.head_gate_forward(view(a, {4, 3, 8}), view(b, {4, 3, 8}), view(c, {4, 2}), 1.0f); },
      {"head_gate_forward", "gate [4, 2]", "one per row and head"});
  expect_error_mentions([&] { backend.head_gate_forward(view(a, {4, 24}), view(b, {4, 24}), view(c, {4}), 1.0f); },
                        {"head_gate_forward", "[rows, heads, head_dim]"});
}

}  // namespace
}  // namespace dg::test
