// The block modules (src/model/blocks/) end to end through the float CPU backend: parameters as a
// model declares them, activations planned in an Arena, forward and backward on the Backend
// interface. Checked: the directional derivative of L = Σ w ⊙ out (two uses sharing the weights,
// so each use's saved activations are its own) against central differences, per-token
// independence (editing row t changes only row t), the step-0 equivalences the init rules promise
// (τ-fusion = resid_mix, identity head gate), running fewer rows than planned, and the layout
// contract (names, shapes, groups, init) the wiring relies on.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/ops_elementwise.h"
#include "model/blocks/daam.h"
#include "model/blocks/head_gate.h"
#include "model/blocks/tau_fusion.h"

namespace dg::blocks {
namespace {

using FVec = std::vector<float>;

FVec random_floats(int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  FVec v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}
Tensor flat(FVec& v) { return Tensor::f32(v.data(), {static_cast<int64_t>(v.size())}); }
Tensor mat(FVec& v, int64_t rows, int64_t cols) { return Tensor::f32(v.data(), {rows, cols}); }
double dot(const FVec& a, const FVec& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}
FVec plus(const FVec& base, const FVec& dir, float step) {
  FVec out = base;
  for (size_t i = 0; i < out.size(); ++i) out[i] += step * dir[i];
  return out;
}

// A model's view of the blocks: one layout, the flat parameter and gradient buffers, an arena.
struct Model {
  CpuBackend backend;
  ParamLayout layout;
  FVec params, grads;
  std::unique_ptr<Arena> arena = std::make_unique<Arena>(backend);

  void initialize(uint64_t seed) {
    params.assign(static_cast<size_t>(layout.buffer_elements()), 0.0f);
    layout.initialize(params.data(), seed);
    grads.assign(params.size(), 0.0f);
  }
  // Every parameter drawn from U(lo, hi): a generic point, not the special step-0 one.
  void randomize(uint64_t seed, float lo = -0.5f, float hi = 0.5f) {
    const FVec r = random_floats(layout.buffer_elements(), seed, lo, hi);
    for (const ParamSpec& spec : layout.specs())
      std::copy_n(r.begin() + spec.offset, spec.numel(), params.begin() + spec.offset);
  }
  // The direction of a directional derivative: random over the parameters, zero in the padding.
  FVec param_direction(uint64_t seed) const {
    const FVec r = random_floats(layout.buffer_elements(), seed);
    FVec dir(r.size(), 0.0f);
    for (const ParamSpec& spec : layout.specs())
      std::copy_n(r.begin() + spec.offset, spec.numel(), dir.begin() + spec.offset);
    return dir;
  }
};

// Central difference of `loss` along the direction, against the analytic value. The forward runs in
// float, so h cannot be tiny (rounding noise grows as 1/h); τ-fusion also needs it small enough
// that no |f̃_i − f̃_j| of the disagreement changes sign inside [−h, h] (the kink of |·|).
void expect_directional_derivative(const std::function<double(float)>& loss, double analytic, float h,
                                   double rel_tol) {
  const double numeric = (loss(h) - loss(-h)) / (2.0 * h);
  EXPECT_NEAR(numeric, analytic, rel_tol * std::fabs(analytic) + 1e-4) << "numeric " << numeric << " analytic " << analytic;
  EXPECT_GT(std::fabs(analytic), 1e-2) << "a vanishing derivative would prove nothing";
}

// ---- τ-fusion --------------------------------------------------------------------------------------

struct TauCase {
  int64_t streams, latent;
};

class TauFusionGradient : public ::testing::TestWithParam<TauCase> {};

TEST_P(TauFusionGradient, DirectionalDerivativeOfTwoUsesMatchesFiniteDifference) {
  const int64_t n = GetParam().streams, d = 12, rows = 9;
  TauFusionConfig config{n, d, GetParam().latent, 7, {}, 0.0};
  Model m;
  m.layout.add("filler", {5}, OptimGroup::Scalar, InitKind::Constant, 1.0f);  // the block is not first
  TauFusion block(config, "blocks.0.fusion.");
  block.add_params(m.layout);
  const auto use_a = block.reserve_activations(*m.arena, rows), use_b = block.reserve_activations(*m.arena, rows);
  const auto scratch = block.reserve_scratch(*m.arena, rows);
  m.arena->commit();
  m.initialize(1);
  m.randomize(2);

  std::vector<FVec> in_a, in_b, dir_a, dir_b;
  for (int64_t i = 0; i < n; ++i) {
    in_a.push_back(random_floats(rows * d, 10 + i));
    in_b.push_back(random_floats(rows * d, 20 + i));
    dir_a.push_back(random_floats(rows * d, 30 + i));
    dir_b.push_back(random_floats(rows * d, 40 + i));
  }
  const FVec w_a = random_floats(rows * d, 50), w_b = random_floats(rows * d, 51);
  const FVec dir_p = m.param_direction(52);

  auto views = [&](std::vector<FVec>& bufs) {
    std::vector<Tensor> t;
    for (FVec& b : bufs) t.push_back(mat(b, rows, d));
    return t;
  };
  auto loss_at = [&](float step) {
    FVec p = plus(m.params, dir_p, step);
    std::vector<FVec> a, b;
    for (int64_t i = 0; i < n; ++i) a.push_back(plus(in_a[i], dir_a[i], step)), b.push_back(plus(in_b[i], dir_b[i], step));
    FVec out_a(rows * d), out_b(rows * d);
    const auto va = views(a), vb = views(b);
    block.forward(m.backend, *m.arena, use_a, scratch, flat(p), va, mat(out_a, rows, d));
    block.forward(m.backend, *m.arena, use_b, scratch, flat(p), vb, mat(out_b, rows, d));
    return dot(w_a, out_a) + dot(w_b, out_b);
  };

  FVec out_a(rows * d), out_b(rows * d);
  const auto va = views(in_a), vb = views(in_b);
  block.forward(m.backend, *m.arena, use_a, scratch, flat(m.params), va, mat(out_a, rows, d));
  block.forward(m.backend, *m.arena, use_b, scratch, flat(m.params), vb, mat(out_b, rows, d));
  std::vector<FVec> dgrad_a(n, FVec(rows * d, 0.0f)), dgrad_b(n, FVec(rows * d, 0.0f));
  const auto dva = views(dgrad_a), dvb = views(dgrad_b);
  FVec wa = w_a, wb = w_b;
  // Backward in reverse order of the forwards, as a model does.
  block.backward(m.backend, *m.arena, use_b, scratch, flat(m.params), flat(m.grads), vb, dvb, mat(wb, rows, d));
  block.backward(m.backend, *m.arena, use_a, scratch, flat(m.params), flat(m.grads), va, dva, mat(wa, rows, d));

  double analytic = dot(m.grads, dir_p);
  for (int64_t i = 0; i < n; ++i) analytic += dot(dgrad_a[i], dir_a[i]) + dot(dgrad_b[i], dir_b[i]);
  expect_directional_derivative(loss_at, analytic, 2e-3f, 2e-3);
}

INSTANTIATE_TEST_SUITE_P(Streams, TauFusionGradient,
                         ::testing::Values(TauCase{2, 0}, TauCase{3, 0}, TauCase{2, 5}, TauCase{4, 3}),
                         [](const auto& info) {
                           return std::to_string(info.param.streams) + "streams_latent" +
                                  std::to_string(info.param.latent);
                         });

TEST(TauFusion, EachTokenDependsOnlyOnItsOwnRow) {
  for (int64_t latent : {0, 4}) {
    SCOPED_TRACE("latent " + std::to_string(latent));
    const int64_t n = 3, d = 10, rows = 8, edited = 5;
    Model m;
    TauFusion block({n, d, latent, 6, {}, 0.0}, "f.");
    block.add_params(m.layout);
    const auto acts = block.reserve_activations(*m.arena, rows);
    const auto scratch = block.reserve_scratch(*m.arena, rows);
    m.arena->commit();
    m.initialize(3);
    m.randomize(4);
    std::vector<FVec> in;
    for (int64_t i = 0; i < n; ++i) in.push_back(random_floats(rows * d, 60 + i));
    auto run = [&] {
      std::vector<Tensor> v;
      for (FVec& b : in) v.push_back(mat(b, rows, d));
      FVec out(rows * d);
      block.forward(m.backend, *m.arena, acts, scratch, flat(m.params), v, mat(out, rows, d));
      return out;
    };
    const FVec before = run();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < d; ++c) in[i][edited * d + c] += 0.25f * static_cast<float>(i + 1);
    const FVec after = run();
    for (int64_t r = 0; r < rows; ++r) {
      bool same = true;
      for (int64_t c = 0; c < d; ++c) same = same && before[r * d + c] == after[r * d + c];
      EXPECT_EQ(same, r != edited) << "row " << r;
    }
  }
}

// τ-fusion configured as loop_input's resid_mix: streams (x, x0), init_mix = the resid_mix init.
FVec fuse_at_step0(const TauFusionConfig& config, std::vector<FVec>& streams, int64_t rows) {
  Model m;
  TauFusion block(config, "loop_input_tau.");
  block.add_params(m.layout);
  const auto acts = block.reserve_activations(*m.arena, rows);
  const auto scratch = block.reserve_scratch(*m.arena, rows);
  m.arena->commit();
  m.initialize(5);  // the declared init: zero last layer, bias b, mix m/σ(b)
  std::vector<Tensor> v;
  for (FVec& s : streams) v.push_back(mat(s, rows, config.dim));
  FVec out(rows * config.dim);
  block.forward(m.backend, *m.arena, acts, scratch, flat(m.params), v, mat(out, rows, config.dim));
  return out;
}

FVec resid_mix(const FVec& x, const FVec& x0, float m0, float m1, int64_t rows, int64_t d) {
  FVec mix(2 * d);
  std::fill_n(mix.begin(), d, m0);
  std::fill_n(mix.begin() + d, d, m1);
  FVec out(x.size());
  CpuBackend backend;
  FVec xc = x, x0c = x0;
  backend.resid_mix_forward(mat(out, rows, d), mat(xc, rows, d), mat(x0c, rows, d), mat(mix, 2, d));
  return out;
}

TEST(TauFusion, StepZeroEqualsResidMixExactly) {
  const int64_t d = 33, rows = 7;
  std::vector<FVec> streams = {random_floats(rows * d, 70, -3, 3), random_floats(rows * d, 71, -3, 3)};
  const FVec out = fuse_at_step0({2, d, 0, 8, {1.0, 0.0}, 0.0}, streams, rows);
  const FVec ref = resid_mix(streams[0], streams[1], 1.0f, 0.0f, rows, d);
  for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], ref[i]) << "element " << i << ": not bit-identical";
  for (size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], streams[0][i]);  // 1·x + 0·x0 = x

  // A third stream (the U-Net skip) with weight 0 changes nothing either.
  std::vector<FVec> three = {streams[0], streams[1], random_floats(rows * d, 72, -3, 3)};
  const FVec out3 = fuse_at_step0({3, d, 0, 8, {1.0, 0.0, 0.0}, 0.0}, three, rows);
  for (size_t i = 0; i < out3.size(); ++i) ASSERT_EQ(out3[i], streams[0][i]) << "element " << i;
}

TEST(TauFusion, StepZeroEqualsAnyResidMixToTheLastBit) {
  // b = 0: τ·s = ½·(2m) = m exactly; only the final sum's rounding order may differ from
  // resid_mix (an FMA in one, not the other): within one rounding of the result.
  const int64_t d = 20, rows = 5;
  std::vector<FVec> streams = {random_floats(rows * d, 73, -3, 3), random_floats(rows * d, 74, -3, 3)};
  const float m0 = 0.7f, m1 = -0.45f;
  const FVec out = fuse_at_step0({2, d, 0, 4, {m0, m1}, 0.0}, streams, rows);
  const FVec ref = resid_mix(streams[0], streams[1], m0, m1, rows, d);
  for (size_t i = 0; i < out.size(); ++i) {
    const double bound = std::ldexp(std::fabs(m0 * streams[0][i]) + std::fabs(m1 * streams[1][i]), -23);
    ASSERT_LE(std::fabs(static_cast<double>(out[i]) - ref[i]), bound) << "element " << i;
  }
  // Another starting τ (b = 1.5): s = m/σ(b) rounds, so equality holds to a few ulps, no better.
  const FVec out_b = fuse_at_step0({2, d, 0, 4, {m0, m1}, 1.5}, streams, rows);
  for (size_t i = 0; i < out_b.size(); ++i) {
    const double bound = 4 * std::ldexp(std::fabs(m0 * streams[0][i]) + std::fabs(m1 * streams[1][i]), -23);
    ASSERT_LE(std::fabs(static_cast<double>(out_b[i]) - ref[i]), bound) << "element " << i;
  }
}

TEST(TauFusion, TauIsTheControllerSigmoidAndStartsAtSigmaOfTheBias) {
  const int64_t n = 2, d = 6, rows = 4;
  Model m;
  TauFusion block({n, d, 0, 3, {1.0, 0.0}, -1.0}, "f.");
  block.add_params(m.layout);
  const auto acts = block.reserve_activations(*m.arena, 16);  // planned for more rows than used
  const auto scratch = block.reserve_scratch(*m.arena, 16);
  m.arena->commit();
  m.initialize(6);
  std::vector<FVec> in = {random_floats(rows * d, 80), random_floats(rows * d, 81)};
  std::vector<Tensor> v = {mat(in[0], rows, d), mat(in[1], rows, d)};
  FVec out(rows * d);
  block.forward(m.backend, *m.arena, acts, scratch, flat(m.params), v, mat(out, rows, d));
  const Tensor tau = block.tau(*m.arena, acts, rows);
  ASSERT_EQ(tau.numel(), n * rows * d);
  const float expected = 1.0f / (1.0f + std::exp(1.0f));
  for (int64_t i = 0; i < tau.numel(); ++i) EXPECT_FLOAT_EQ(tau.f32()[i], expected);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], in[0][i], 1e-6 * (1 + std::fabs(in[0][i])));
}

TEST(TauFusion, LayoutNamesShapesGroupsAndInit) {
  ParamLayout layout;
  TauFusion block({2, 8, 3, 5, {1.0, 0.0}, 0.0}, "blocks.0.loop_input_tau.");
  block.add_params(layout);
  std::vector<std::string> names;
  for (const ParamSpec& s : layout.specs()) names.push_back(s.name);
  const std::string p = "blocks.0.loop_input_tau.";
  EXPECT_EQ(names, (std::vector<std::string>{
                       p + "proj_in.0.weight", p + "ctrl.0.fc.weight", p + "ctrl.0.fc.bias", p + "ctrl.0.proj.weight",
                       p + "ctrl.0.proj.bias", p + "mix.0", p + "proj_in.1.weight", p + "ctrl.1.fc.weight",
                       p + "ctrl.1.fc.bias", p + "ctrl.1.proj.weight", p + "ctrl.1.proj.bias", p + "mix.1",
                       p + "proj_out.weight"}));
  EXPECT_EQ(layout.find(p + "proj_in.1.weight").shape, (std::vector<int64_t>{3, 8}));
  EXPECT_EQ(layout.find(p + "ctrl.0.fc.weight").shape, (std::vector<int64_t>{5, 9}));  // (n+1)·k = 9
  EXPECT_EQ(layout.find(p + "ctrl.0.proj.weight").shape, (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(layout.find(p + "proj_out.weight").shape, (std::vector<int64_t>{8, 3}));
  EXPECT_EQ(layout.find(p + "ctrl.0.fc.weight").group, OptimGroup::Matrix);
  EXPECT_EQ(layout.find(p + "mix.0").group, OptimGroup::Scalar);
  EXPECT_EQ(layout.find(p + "ctrl.1.proj.bias").group, OptimGroup::Scalar);
  EXPECT_EQ(layout.find(p + "mix.0").init_value, 2.0f);  // m/σ(0)
  EXPECT_EQ(layout.find(p + "mix.1").init_value, 0.0f);
  EXPECT_EQ(layout.find(p + "ctrl.0.proj.weight").init, InitKind::Constant);
  EXPECT_EQ(layout.find(p + "ctrl.0.proj.weight").init_value, 0.0f);
  EXPECT_THROW(block.add_params(layout), Error);
}

TEST(TauFusion, BindReadsOffsetsFromAnotherLayout) {
  ParamLayout first, second;
  first.add("something_else", {100}, OptimGroup::Scalar, InitKind::Constant, 0.0f);
  TauFusion block({2, 4, 0, 2, {}, 0.0}, "f.");
  block.add_params(first);
  TauFusion twin({2, 4, 0, 2, {}, 0.0}, "f.");
  twin.add_params(second);
  block.bind(second);
  for (size_t i = 0; i < block.params().specs().size(); ++i)
    EXPECT_EQ(block.params().spec(static_cast<int>(i)).offset, twin.params().spec(static_cast<int>(i)).offset);
  ParamLayout unrelated;
  unrelated.add("f.mix.0", {4}, OptimGroup::Scalar, InitKind::Constant, 0.0f);
  EXPECT_THROW(block.bind(unrelated), Error);
}

TEST(TauFusion, ConfigErrorsNameTheSite) {
  auto message = [](TauFusionConfig c) {
    try {
      TauFusion block(c, "blocks.0.loop_output_tau.");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message({1, 8, 0, 4, {}, 0.0}).find("at least 2 streams"), std::string::npos);
  EXPECT_NE(message({2, 8, 0, 0, {}, 0.0}).find("hidden"), std::string::npos);
  EXPECT_NE(message({3, 8, 0, 4, {1.0, 0.0}, 0.0}).find("init_mix has 2 values for 3 streams"), std::string::npos);
  EXPECT_NE(message({1, 8, 0, 4, {}, 0.0}).find("blocks.0.loop_output_tau."), std::string::npos);
  EXPECT_EQ(message({2, 8, 0, 4, {}, 0.0}), "");  // a valid configuration
}

// ---- DAAM ----------------------------------------------------------------------------------------------

struct DaamCase {
  int64_t groups, gaussians;
  bool residual;
};

class DaamGradient : public ::testing::TestWithParam<DaamCase> {};

TEST_P(DaamGradient, DirectionalDerivativeOfTwoUsesMatchesFiniteDifference) {
  const int64_t d = 24, rows = 11;
  DaamConfig config;
  config.dim = d;
  config.groups = GetParam().groups;
  config.gaussians = GetParam().gaussians;
  config.residual = GetParam().residual;
  Model m;
  Daam block(config, "blocks.0.mlp_in_daam.");
  block.add_params(m.layout);
  const auto use_a = block.reserve_activations(*m.arena, rows), use_b = block.reserve_activations(*m.arena, rows);
  m.arena->commit();
  m.initialize(7);
  // Keep c away from 0 (it divides); offsets and mixture logits anywhere.
  for (const ParamSpec& s : m.layout.specs()) {
    const bool scale = s.name.ends_with("scale");
    const FVec r = random_floats(s.numel(), 90 + s.offset, scale ? 0.8f : -0.6f, scale ? 2.5f : 0.6f);
    std::copy(r.begin(), r.end(), m.params.begin() + s.offset);
  }
  FVec x_a = random_floats(rows * d, 91, -2, 2), x_b = random_floats(rows * d, 92, -2, 2);
  const FVec dir_a = random_floats(rows * d, 93), dir_b = random_floats(rows * d, 94);
  const FVec w_a = random_floats(rows * d, 95), w_b = random_floats(rows * d, 96), dir_p = m.param_direction(97);

  auto loss_at = [&](float step) {
    FVec p = plus(m.params, dir_p, step), a = plus(x_a, dir_a, step), b = plus(x_b, dir_b, step);
    FVec out_a(rows * d), out_b(rows * d);
    block.forward(m.backend, *m.arena, use_a, flat(p), mat(a, rows, d), mat(out_a, rows, d));
    block.forward(m.backend, *m.arena, use_b, flat(p), mat(b, rows, d), mat(out_b, rows, d));
    return dot(w_a, out_a) + dot(w_b, out_b);
  };
  FVec out_a(rows * d), out_b(rows * d), dx_a(rows * d, 0.0f), dx_b(rows * d, 0.0f), wa = w_a, wb = w_b;
  block.forward(m.backend, *m.arena, use_a, flat(m.params), mat(x_a, rows, d), mat(out_a, rows, d));
  block.forward(m.backend, *m.arena, use_b, flat(m.params), mat(x_b, rows, d), mat(out_b, rows, d));
  block.backward(m.backend, *m.arena, use_b, flat(m.params), flat(m.grads), mat(x_b, rows, d), mat(dx_b, rows, d),
                 mat(wb, rows, d));
  block.backward(m.backend, *m.arena, use_a, flat(m.params), flat(m.grads), mat(x_a, rows, d), mat(dx_a, rows, d),
                 mat(wa, rows, d));
  const double analytic = dot(m.grads, dir_p) + dot(dx_a, dir_a) + dot(dx_b, dir_b);
  expect_directional_derivative(loss_at, analytic, 5e-3f, 2e-3);
}

INSTANTIATE_TEST_SUITE_P(Variants, DaamGradient,
                         ::testing::Values(DaamCase{1, 1, false}, DaamCase{4, 1, true}, DaamCase{3, 3, false},
                                           DaamCase{6, 3, true}),
                         [](const auto& info) {
                           return std::to_string(info.param.groups) + "groups_" +
                                  std::to_string(info.param.gaussians) + "gaussians" +
                                  (info.param.residual ? "_residual" : "");
                         });

TEST(Daam, EachTokenDependsOnlyOnItsOwnRow) {
  const int64_t d = 16, rows = 6, edited = 2;
  DaamConfig config;
  config.dim = d;
  config.groups = 4;
  config.gaussians = 3;
  Model m;
  Daam block(config, "daam.");
  block.add_params(m.layout);
  const auto acts = block.reserve_activations(*m.arena, rows);
  m.arena->commit();
  m.initialize(8);
  FVec x = random_floats(rows * d, 100, -2, 2);
  auto run = [&] {
    FVec out(rows * d);
    block.forward(m.backend, *m.arena, acts, flat(m.params), mat(x, rows, d), mat(out, rows, d));
    return out;
  };
  const FVec before = run();
  for (int64_t c = 0; c < d; ++c) x[edited * d + c] = 3.0f * x[edited * d + c] + 0.5f;
  const FVec after = run();
  for (int64_t r = 0; r < rows; ++r) {
    bool same = true;
    for (int64_t c = 0; c < d; ++c) same = same && before[r * d + c] == after[r * d + c];
    EXPECT_EQ(same, r != edited) << "row " << r;
  }
}

TEST(Daam, LayoutInitAndDensityFeedTheImportanceFactor) {
  const int64_t d = 12, rows = 5, g = 3;
  DaamConfig config;
  config.dim = d;
  config.groups = g;
  Model m;
  Daam block(config, "blocks.1.daam.");
  block.add_params(m.layout);
  ASSERT_EQ(m.layout.specs().size(), 2u);  // N = 1: no mixture logits
  EXPECT_EQ(m.layout.find("blocks.1.daam.offset").shape, (std::vector<int64_t>{g, 1}));
  EXPECT_EQ(m.layout.find("blocks.1.daam.scale").init_value, 2.0f);
  EXPECT_EQ(m.layout.find("blocks.1.daam.offset").init_value, 0.0f);
  EXPECT_EQ(m.layout.find("blocks.1.daam.scale").group, OptimGroup::Scalar);
  const auto acts = block.reserve_activations(*m.arena, rows);
  m.arena->commit();
  m.initialize(9);
  FVec x = random_floats(rows * d, 110, -2, 2), out(rows * d), density(rows * g);
  block.forward(m.backend, *m.arena, acts, flat(m.params), mat(x, rows, d), mat(out, rows, d));
  block.density(m.backend, *m.arena, acts, flat(m.params), mat(x, rows, d), mat(density, rows, g));
  // The density is the gate's group average: out = x ⊙ gate, so where x ≠ 0 the gate is out/x.
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t grp = 0; grp < g; ++grp) {
      double avg = 0;
      const int64_t m_ = d / g;
      for (int64_t f = 0; f < m_; ++f) avg += out[r * d + grp * m_ + f] / x[r * d + grp * m_ + f] / m_;
      EXPECT_NEAR(density[r * g + grp], avg, 1e-5);
      EXPECT_GT(density[r * g + grp], 0.0f);
      EXPECT_LE(density[r * g + grp], 1.0f);
    }
  std::vector<double> mean_density(g, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t grp = 0; grp < g; ++grp) mean_density[grp] += density[r * g + grp] / rows;
  const std::vector<double> factors = importance_factors(mean_density);
  EXPECT_EQ(*std::min_element(factors.begin(), factors.end()), 0.0);
  EXPECT_EQ(*std::max_element(factors.begin(), factors.end()), 1.0);
  EXPECT_EQ(importance_factors({0.3, 0.3}), (std::vector<double>{0.0, 0.0}));
  EXPECT_EQ(importance_factors({0.25, 0.75, 0.5}), (std::vector<double>{0.0, 1.0, 0.5}));

  DaamConfig mixture = config;
  mixture.gaussians = 3;
  ParamLayout layout;
  Daam mixed(mixture, "m.");
  mixed.add_params(layout);
  EXPECT_EQ(layout.find("m.mix_logits").shape, (std::vector<int64_t>{g, 3}));
  EXPECT_EQ(layout.find("m.offset").init, InitKind::Normal);  // distinct Gaussians from the start
}

// ---- head gate ---------------------------------------------------------------------------------------------

class HeadGateGradient : public ::testing::TestWithParam<bool> {};

TEST_P(HeadGateGradient, DirectionalDerivativeOfTwoUsesMatchesFiniteDifference) {
  const int64_t d = 16, H = 4, hd = 5, batch = 2, seq = 5, rows = batch * seq;
  Model m;
  HeadGate block({d, H, hd, GetParam()}, "blocks.0.attn.head_gate.");
  block.add_params(m.layout);
  const auto use_a = block.reserve_activations(*m.arena, rows), use_b = block.reserve_activations(*m.arena, rows);
  const auto scratch = block.reserve_scratch(*m.arena, rows);
  m.arena->commit();
  m.initialize(10);
  m.randomize(11);
  FVec x_a = random_floats(rows * d, 120), x_b = random_floats(rows * d, 121);
  FVec at_a = random_floats(rows * H * hd, 122), at_b = random_floats(rows * H * hd, 123);
  const FVec dx_dir_a = random_floats(x_a.size(), 124), dx_dir_b = random_floats(x_b.size(), 125);
  const FVec da_dir_a = random_floats(at_a.size(), 126), da_dir_b = random_floats(at_b.size(), 127);
  const FVec w_a = random_floats(at_a.size(), 128), w_b = random_floats(at_b.size(), 129), dir_p = m.param_direction(130);
  auto a4 = [&](FVec& v) { return Tensor::f32(v.data(), {batch, seq, H, hd}); };

  auto loss_at = [&](float step) {
    FVec p = plus(m.params, dir_p, step), xa = plus(x_a, dx_dir_a, step), xb = plus(x_b, dx_dir_b, step);
    FVec aa = plus(at_a, da_dir_a, step), ab = plus(at_b, da_dir_b, step), oa(aa.size()), ob(ab.size());
    block.forward(m.backend, *m.arena, use_a, scratch, flat(p), mat(xa, rows, d), a4(aa), a4(oa));
    block.forward(m.backend, *m.arena, use_b, scratch, flat(p), mat(xb, rows, d), a4(ab), a4(ob));
    return dot(w_a, oa) + dot(w_b, ob);
  };
  FVec oa(at_a.size()), ob(at_b.size()), gxa(x_a.size()), gxb(x_b.size()), gaa(at_a.size()), gab(at_b.size());
  FVec wa = w_a, wb = w_b;
  block.forward(m.backend, *m.arena, use_a, scratch, flat(m.params), mat(x_a, rows, d), a4(at_a), a4(oa));
  block.forward(m.backend, *m.arena, use_b, scratch, flat(m.params), mat(x_b, rows, d), a4(at_b), a4(ob));
  block.backward(m.backend, *m.arena, use_b, scratch, flat(m.params), flat(m.grads), mat(x_b, rows, d), a4(at_b),
                 mat(gxb, rows, d), a4(gab), a4(wb));
  block.backward(m.backend, *m.arena, use_a, scratch, flat(m.params), flat(m.grads), mat(x_a, rows, d), a4(at_a),
                 mat(gxa, rows, d), a4(gaa), a4(wa));
  const double analytic = dot(m.grads, dir_p) + dot(gxa, dx_dir_a) + dot(gxb, dx_dir_b) + dot(gaa, da_dir_a) +
                          dot(gab, da_dir_b);
  expect_directional_derivative(loss_at, analytic, 1e-2f, 2e-3);
}

INSTANTIATE_TEST_SUITE_P(Init, HeadGateGradient, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "identity_init" : "paper_init"; });

TEST(HeadGate, IdentityInitLeavesAttentionUnchangedAndTokensIndependent) {
  const int64_t d = 8, H = 2, hd = 3, rows = 6, edited = 4;
  Model m;
  HeadGate block({d, H, hd, true}, "g.");
  block.add_params(m.layout);
  EXPECT_EQ(m.layout.find("g.weight").shape, (std::vector<int64_t>{H, d}));
  EXPECT_EQ(m.layout.find("g.weight").group, OptimGroup::Scalar);
  const auto acts = block.reserve_activations(*m.arena, rows);
  const auto scratch = block.reserve_scratch(*m.arena, rows);
  m.arena->commit();
  m.initialize(12);
  FVec x = random_floats(rows * d, 140), attn = random_floats(rows * H * hd, 141), out(attn.size());
  block.forward(m.backend, *m.arena, acts, scratch, flat(m.params), mat(x, rows, d), mat(attn, rows, H * hd),
                mat(out, rows, H * hd));
  EXPECT_EQ(out, attn);  // 2·σ(0) = 1 exactly
  const Tensor gate = block.gate(*m.arena, acts, rows);
  for (int64_t i = 0; i < gate.numel(); ++i) EXPECT_EQ(gate.f32()[i], 0.5f);

  m.randomize(13);
  auto run = [&] {
    FVec o(attn.size());
    block.forward(m.backend, *m.arena, acts, scratch, flat(m.params), mat(x, rows, d), mat(attn, rows, H * hd),
                  mat(o, rows, H * hd));
    return o;
  };
  const FVec before = run();
  for (int64_t c = 0; c < d; ++c) x[edited * d + c] += 0.5f;
  const FVec after = run();
  for (int64_t r = 0; r < rows; ++r) {
    bool same = true;
    for (int64_t c = 0; c < H * hd; ++c) same = same && before[r * H * hd + c] == after[r * H * hd + c];
    EXPECT_EQ(same, r != edited) << "row " << r;
  }
}

TEST(Blocks, MoreRowsThanPlannedIsAnError) {
  Model m;
  Daam block(DaamConfig{8, 2, 1, false, 1e-5, 2.0, 0.5}, "d.");
  block.add_params(m.layout);
  const auto acts = block.reserve_activations(*m.arena, 3);
  m.arena->commit();
  m.initialize(14);
  FVec x(4 * 8, 0.5f), out(x.size());
  EXPECT_THROW(block.forward(m.backend, *m.arena, acts, flat(m.params), mat(x, 4, 8), mat(out, 4, 8)), Error);
}

}  // namespace
}  // namespace dg::blocks
