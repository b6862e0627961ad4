// The pluggable blocks wired into DART through the `blocks` setting (docs/blocks.md, "DART use
// sites"), checked at model level: gradients at every site against finite differences, causality
// with every block on, the step-0 equivalences the initialisation promises, what each site feeds its
// block (stream order, the U-Net skip stream, the fused head input), the layout and optimizer
// groups, the setting's errors, observe_blocks, and a short training run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <map>

#include "dart_fixtures.h"
#include "model/dart_layout.h"
#include "model/dart_model.h"
#include "model/model_factory.h"
#include "model_fixtures.h"
#include "train/optimizer.h"

namespace dg {
namespace {

using test::DartFixture;

// "blocks=[e0,e1,...]" for small_dart_config.
std::string blocks_setting(const std::vector<std::string>& entries) {
  std::string s = "blocks=[";
  for (size_t i = 0; i < entries.size(); ++i) s += (i > 0 ? "," : "") + entries[i];
  return s + "]";
}

const std::string kTauInput = R"({"type":"tau_fusion","site":"loop_input","hidden":16})";
const std::string kTauOutput = R"({"type":"tau_fusion","site":"loop_output","hidden":16})";
const std::string kHeadGate = R"({"type":"head_gate","site":"attn_output"})";

// One block at every site (two at attn_output), non-default options where they change the math.
std::vector<std::string> every_block(bool latent = false, bool gate_first = true) {
  const std::string lat = latent ? R"(,"latent":8)" : "";
  const std::string gate = R"({"type":"head_gate","site":"attn_output","identity_init":false})";
  const std::string daam_attn = R"({"type":"daam","site":"attn_output","groups":2})";
  std::vector<std::string> e = {R"({"type":"tau_fusion","site":"loop_input","hidden":16)" + lat + "}"};
  e.push_back(gate_first ? gate : daam_attn);
  e.push_back(gate_first ? daam_attn : gate);
  e.push_back(R"({"type":"daam","site":"mlp_input","gaussians":3,"residual":true})");
  e.push_back(R"({"type":"daam","site":"block_output"})");
  e.push_back(R"({"type":"tau_fusion","site":"loop_output","hidden":16)" + lat + "}");
  return e;
}

bool is_block_tensor(const std::string& name) {
  for (const char* type : {".tau_fusion.", ".daam.", ".head_gate."})
    if (name.find(type) != std::string::npos) return true;
  return false;
}

// "loop_input.tau_fusion.ctrl.*.fc.weight" for "blocks.1.loop_input.tau_fusion.ctrl.2.fc.weight": the
// site, type and tensor, without the unique block and the stream.
std::string block_tensor_kind(const std::string& name) {
  std::string rest = name;
  if (rest.rfind("block.", 0) == 0) rest = rest.substr(6);
  if (rest.rfind("blocks.", 0) == 0) rest = rest.substr(rest.find('.', 7) + 1);
  std::string kind;
  for (size_t i = 0; i < rest.size(); ++i) {
    const bool segment_start = i == 0 || rest[i - 1] == '.';
    if (segment_start && std::isdigit(static_cast<unsigned char>(rest[i]))) {
      kind += '*';
      while (i + 1 < rest.size() && rest[i + 1] != '.') ++i;
    } else {
      kind += rest[i];
    }
  }
  return kind;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::vector<float> tensor_values(const ParamLayout& layout, const std::vector<float>& flat, const std::string& name) {
  const ParamSpec& s = layout.find(name);
  return std::vector<float>(flat.begin() + s.offset, flat.begin() + s.offset + s.numel());
}

void set_tensor(const ParamLayout& layout, std::vector<float>& flat, const std::string& name,
                const std::function<float(int64_t)>& value) {
  const ParamSpec& s = layout.find(name);
  for (int64_t i = 0; i < s.numel(); ++i) flat[static_cast<size_t>(s.offset + i)] = value(i);
}

// Moves every block tensor away from its initial value: several start at zero (the controllers'
// last layer, the identity head gate, DAAM's single-Gaussian offset), which would leave their
// gradient paths unexercised. (Much more than 0.05 drives τ's unnormalised controller into
// saturation on later loops, where float32's σ rounds to exactly 1.)
void perturb_block_tensors(DartFixture& f, uint64_t seed, double std = 0.05) {
  std::vector<float> p = f.host_params();
  Rng rng(seed);
  for (const ParamSpec& spec : f.model->layout().specs())
    if (is_block_tensor(spec.name))
      for (int64_t i = 0; i < spec.numel(); ++i) p[static_cast<size_t>(spec.offset + i)] += static_cast<float>(rng.normal(0.0, std));
  f.set_host_params(p);
}

std::vector<std::vector<float>> every_loop_losses(DartModel& model) {
  std::vector<std::vector<float>> out(static_cast<size_t>(model.loops_run()));
  for (int64_t l = 0; l < model.loops_run(); ++l) model.loop_token_losses(l, out[static_cast<size_t>(l)]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// 1. Gradients: backward's directional derivative against central differences of the training
// loss (float32, as test_dart_model.cpp), along a direction over every tensor and along one over
// each kind of block tensor alone; and every block tensor receives a gradient.

struct GradientCase {
  std::string name;
  std::vector<std::string> entries;
  std::vector<std::string> overrides;
  int64_t loops = 0;  // > 0: forward_loops(loops), what loop dropout trains; else forward()
};

void PrintTo(const GradientCase& c, std::ostream* os) { *os << c.name; }

class DartBlocksGradient : public ::testing::TestWithParam<GradientCase> {};

TEST_P(DartBlocksGradient, MatchesFiniteDifferences) {
  const GradientCase& c = GetParam();
  std::vector<std::string> overrides = {"qat_wq=0", blocks_setting(c.entries)};  // W_q fake-quant is piecewise constant
  overrides.insert(overrides.end(), c.overrides.begin(), c.overrides.end());
  SCOPED_TRACE(::testing::PrintToString(overrides));
  DartFixture f(overrides, 2, 21);
  perturb_block_tensors(f, 31);
  const ParamLayout& layout = f.model->layout();
  f.model->set_training(true);
  const auto x = test::random_tokens(32, 64, 22), y = test::random_tokens(32, 64, 23);
  const ModelBatch batch{x.data(), y.data(), 2, 16};
  auto loss = [&] { return c.loops > 0 ? f.dart().forward_loops(batch, c.loops) : f.model->forward(batch); };

  f.backend->fill(f.model->grads(), 0.0f);
  loss();
  f.model->backward(1.0f);
  if (c.loops > 0) ASSERT_EQ(f.dart().loops_run(), c.loops);
  const int64_t n = layout.buffer_elements();
  std::vector<float> g(static_cast<size_t>(n));
  f.backend->copy_to_host(g.data(), f.model->grads());

  int block_tensors = 0;
  bool has_tau = false;
  for (const ParamSpec& spec : layout.specs()) {
    if (!is_block_tensor(spec.name)) continue;
    ++block_tensors;
    has_tau |= spec.name.find(".tau_fusion.") != std::string::npos;
    double sum = 0;
    for (int64_t i = 0; i < spec.numel(); ++i) sum += std::fabs(g[static_cast<size_t>(spec.offset + i)]);
    EXPECT_GT(sum, 0.0) << spec.name << " gets no gradient";
    EXPECT_TRUE(std::isfinite(sum)) << spec.name;
  }
  ASSERT_GT(block_tensors, 0) << "the config built no block tensors";

  // Directions: over every tensor, then over each kind of block tensor alone (one site's
  // "ctrl.*.fc.weight" of every unique block, one DAAM's "scale", ...), so that a wrong gradient of
  // a small tensor cannot hide behind the rest of the model.
  std::map<std::string, std::vector<const ParamSpec*>> kinds;
  for (const ParamSpec& spec : layout.specs())
    if (is_block_tensor(spec.name)) kinds[block_tensor_kind(spec.name)].push_back(&spec);
  const std::vector<float> p0 = f.host_params();
  uint64_t seed = 99;
  int measured = 0;
  auto check_direction = [&](const std::string& label, const std::vector<const ParamSpec*>& specs, double max_h) {
    SCOPED_TRACE("direction over " + label);
    std::vector<float> dir(static_cast<size_t>(n), 0.0f);
    Rng rng(seed++);
    for (const ParamSpec* spec : specs)
      for (int64_t i = 0; i < spec->numel(); ++i) dir[static_cast<size_t>(spec->offset + i)] = static_cast<float>(rng.normal());
    double analytic = 0;
    for (int64_t i = 0; i < n; ++i) analytic += static_cast<double>(g[static_cast<size_t>(i)]) * dir[static_cast<size_t>(i)];
    // The step moves the loss by about 1e-5, some 250 times float32's rounding of the loss (~4e-8).
    // With τ-fusion it is also at most max_h, so that the |f_i − f_j| kinks of τ's disagreement
    // feature are rarely crossed: along every tensor at test_dart_model.cpp's h = 1e-3 they put the
    // difference quotient of a correct gradient 10–25% off (it converges to ~1e-3 as h shrinks);
    // one kind of block tensor moves the streams far less, so 1e-3 is fine there.
    const double h = std::clamp(1e-5 / std::fabs(analytic), 1e-5, has_tau ? max_h : 1e-2);
    const double rounding = 2e-7 / h;  // 10 × the loss's rounding over the step
    if (std::fabs(analytic) < 4 * rounding) return;  // below what float32 can measure (its gradient is nonzero, checked above)
    ++measured;
    auto loss_at = [&](double step) {
      std::vector<float> p = p0;
      for (int64_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] += static_cast<float>(step * dir[static_cast<size_t>(i)]);
      f.set_host_params(p);
      return loss();
    };
    const double numeric = (loss_at(h) - loss_at(-h)) / (2.0 * h);
    f.set_host_params(p0);
    EXPECT_NEAR(numeric, analytic, 2e-2 * std::fabs(analytic) + rounding) << "h = " << h;
  };
  std::vector<const ParamSpec*> all;
  for (const ParamSpec& spec : layout.specs()) all.push_back(&spec);
  check_direction("every tensor", all, 1e-4);
  EXPECT_EQ(measured, 1) << "the whole-model derivative is too small to measure";
  for (const auto& [kind, specs] : kinds) check_direction(kind, specs, 1e-3);
  // Most kinds carry a measurable derivative (a few, e.g. a τ stream's controller biases whose
  // stream barely matters, may not).
  EXPECT_GE(measured - 1, static_cast<int>(kinds.size() * 3 / 4)) << "of " << kinds.size() << " kinds of block tensor";
}

INSTANTIATE_TEST_SUITE_P(
    EverySiteAndType, DartBlocksGradient,
    ::testing::Values(
        GradientCase{"TauLoopInputSkipStream", {kTauInput}, {}},
        GradientCase{"TauLoopInputNoSkipStream",
                     {R"({"type":"tau_fusion","site":"loop_input","hidden":16,"skip_stream":false})"}, {}},
        GradientCase{"TauLoopInputLatent", {R"({"type":"tau_fusion","site":"loop_input","hidden":16,"latent":8})"}, {}},
        GradientCase{"TauLoopInputTwoBlocksFiveLoops", {kTauInput}, {"num_unique_blocks=2", "num_loops=5"}},
        GradientCase{"TauLoopOutput", {kTauOutput}, {}},
        GradientCase{"TauLoopOutputFewerLoops", {kTauOutput}, {}, 3},
        GradientCase{"TauLoopOutputTwoLoops", {kTauOutput}, {}, 2},
        GradientCase{"TauLoopOutputLatent", {R"({"type":"tau_fusion","site":"loop_output","hidden":16,"latent":8})"}, {}},
        GradientCase{"HeadGateIdentityInit", {kHeadGate}, {}},
        GradientCase{"HeadGatePaperInit", {R"({"type":"head_gate","site":"attn_output","identity_init":false})"}, {}},
        GradientCase{"DaamAttnOutput", {R"({"type":"daam","site":"attn_output"})"}, {}},
        GradientCase{"DaamAttnOutputTwoGroups", {R"({"type":"daam","site":"attn_output","groups":2})"}, {}},
        GradientCase{"DaamMlpInput", {R"({"type":"daam","site":"mlp_input"})"}, {}},
        GradientCase{"DaamMlpInputResidual", {R"({"type":"daam","site":"mlp_input","residual":true})"}, {}},
        GradientCase{"DaamMlpInputThreeGaussians", {R"({"type":"daam","site":"mlp_input","gaussians":3})"}, {}},
        GradientCase{"DaamMlpInputThreeGaussiansResidual",
                     {R"({"type":"daam","site":"mlp_input","gaussians":3,"residual":true,"groups":8})"}, {}},
        GradientCase{"DaamBlockOutput", {R"({"type":"daam","site":"block_output"})"}, {}},
        GradientCase{"EveryBlockTwoUniqueBlocks", every_block(), {"num_unique_blocks=2"}},
        GradientCase{"EveryBlockDaamBeforeGateFewerLoops", every_block(false, false), {}, 3},
        GradientCase{"EveryBlockLatent", every_block(true), {"num_loops=3"}},
        GradientCase{"EveryBlockDiffV2", every_block(), {"attention=diff_v2"}},
        GradientCase{"EveryBlockNoMemory", every_block(), {"num_memory_tokens=0"}}),
    [](const ::testing::TestParamInfo<GradientCase>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// 2. Causality with every block at every site on (memory rows included): every loop's per-token
// losses, including the last loop's head reading the fused loop outputs.

TEST(DartBlocksCausality, EveryBlockAtEverySite) { test::expect_causal({blocks_setting(every_block()), "num_unique_blocks=2"}); }
TEST(DartBlocksCausality, EveryBlockLatentAndDaamFirst) {
  test::expect_causal({blocks_setting(every_block(true, false)), "num_loops=3"});
}
TEST(DartBlocksCausality, EveryBlockDiffV2) { test::expect_causal({blocks_setting(every_block()), "attention=diff_v2"}); }

// ---------------------------------------------------------------------------------------------
// 3. Step-0 equivalence: blocks at their initial values compute exactly the plain model.

// With the same seed, a one-block model with blocks initialises every shared tensor exactly as the
// plain model (the blocks' tensors come after them), so an ablation starts from the same base.
TEST(DartBlocksStep0, SharedTensorsInitialiseAsThePlainModel) {
  const ParamLayout plain = model_layout(test::small_dart_config());
  const ParamLayout with = model_layout(test::small_dart_config({blocks_setting(every_block())}));
  std::vector<float> pp(static_cast<size_t>(plain.buffer_elements())), pw(static_cast<size_t>(with.buffer_elements()));
  plain.initialize(pp.data(), 7);
  with.initialize(pw.data(), 7);
  for (const ParamSpec& s : with.specs()) {
    if (is_block_tensor(s.name)) continue;
    EXPECT_EQ(tensor_values(with, pw, s.name), tensor_values(plain, pp, s.name)) << s.name;
  }
}

struct Step0Case {
  std::vector<std::string> entries;
  std::vector<std::string> overrides;
  int64_t loops = 0;
};

// The plain model with randomised parameters (resid_mix back at its (1, 0) init when
// `plain_resid_mix`), and the model with blocks holding the same shared tensors and its block
// tensors at make_model's initial values. Returns both.
std::pair<std::unique_ptr<DartFixture>, std::unique_ptr<DartFixture>> step0_pair(const Step0Case& c, bool plain_resid_mix) {
  auto plain = std::make_unique<DartFixture>(c.overrides);
  std::vector<std::string> with_overrides = c.overrides;
  with_overrides.push_back(blocks_setting(c.entries));
  auto with = std::make_unique<DartFixture>(with_overrides);
  const ParamLayout& lp = plain->model->layout();
  const ParamLayout& lw = with->model->layout();
  std::vector<float> pp = plain->host_params();
  if (plain_resid_mix)
    for (const ParamSpec& s : lp.specs())
      if (ends_with(s.name, "resid_mix"))
        set_tensor(lp, pp, s.name, [&](int64_t i) { return i < s.numel() / 2 ? 1.0f : 0.0f; });
  plain->set_host_params(pp);
  std::vector<float> pw(static_cast<size_t>(lw.buffer_elements()));
  lw.initialize(pw.data(), 11);
  for (const ParamSpec& s : lw.specs()) {
    if (is_block_tensor(s.name)) continue;
    const ParamSpec& src = lp.find(s.name);
    EXPECT_EQ(src.shape, s.shape) << s.name;
    std::copy_n(pp.begin() + src.offset, s.numel(), pw.begin() + s.offset);
  }
  with->set_host_params(pw);
  return {std::move(plain), std::move(with)};
}

void expect_step0_equivalent(const Step0Case& c) {
  const bool replaces_resid_mix = c.entries.front().find("loop_input") != std::string::npos;
  SCOPED_TRACE(::testing::PrintToString(c.entries) + " " + ::testing::PrintToString(c.overrides));
  auto [plain, with] = step0_pair(c, true);
  const auto x = test::random_tokens(32, 64, 41), y = test::random_tokens(32, 64, 42);
  const ModelBatch batch{x.data(), y.data(), 2, 16};
  for (bool training : {true, false}) {
    SCOPED_TRACE(training ? "training" : "evaluation");
    plain->model->set_training(training);
    with->model->set_training(training);
    const double a = c.loops > 0 ? plain->dart().forward_loops(batch, c.loops) : plain->model->forward(batch);
    const double b = c.loops > 0 ? with->dart().forward_loops(batch, c.loops) : with->model->forward(batch);
    EXPECT_EQ(a, b);
    EXPECT_EQ(every_loop_losses(plain->dart()), every_loop_losses(with->dart()));
    std::vector<float> ta, tb;
    plain->model->token_losses(ta);
    with->model->token_losses(tb);
    EXPECT_EQ(ta, tb);
  }
  // The gradients of the shared tensors are the plain model's too (up to rounding: backward sums in
  // another order); of the τ controllers only the last layer and the mix get one at step 0.
  plain->model->set_training(true);
  with->model->set_training(true);
  auto grad = [&](DartFixture& f) {
    f.backend->fill(f.model->grads(), 0.0f);
    if (c.loops > 0) f.dart().forward_loops(batch, c.loops); else f.model->forward(batch);
    f.model->backward(1.0f);
    std::vector<float> g(static_cast<size_t>(f.model->layout().buffer_elements()));
    f.backend->copy_to_host(g.data(), f.model->grads());
    return g;
  };
  const auto gp = grad(*plain), gw = grad(*with);
  const ParamLayout& lw = with->model->layout();
  // (A stream whose mix starts at 0 passes no gradient to its τ, so only the sum over the
  // controllers' last layers must be nonzero.)
  double last_layers = 0;
  bool any_tau = false;
  for (const ParamSpec& s : lw.specs()) {
    const auto vw = tensor_values(lw, gw, s.name);
    if (!is_block_tensor(s.name)) {
      const auto vp = tensor_values(plain->model->layout(), gp, s.name);
      double scale = 0;
      for (float v : vp) scale = std::max(scale, static_cast<double>(std::fabs(v)));
      for (size_t i = 0; i < vp.size(); ++i) ASSERT_NEAR(vw[i], vp[i], 1e-4 * scale + 1e-7) << s.name << "[" << i << "]";
      continue;
    }
    double sum = 0;
    for (float v : vw) sum += std::fabs(v);
    if (s.name.find(".tau_fusion.") == std::string::npos) continue;
    any_tau = true;
    if (s.name.find(".fc.") != std::string::npos)
      EXPECT_EQ(sum, 0.0) << s.name << ": the zero last layer blocks its gradient at step 0";
    else if (s.name.find(".proj.") != std::string::npos)
      last_layers += sum;
    else if (s.name.find(".mix.") != std::string::npos)
      EXPECT_GT(sum, 0.0) << s.name;
  }
  if (any_tau) EXPECT_GT(last_layers, 0.0);
  if (replaces_resid_mix)
    for (const ParamSpec& s : lw.specs()) EXPECT_FALSE(ends_with(s.name, "resid_mix")) << s.name;
}

TEST(DartBlocksStep0, TauLoopInputIsResidMixAtItsInit) { expect_step0_equivalent({{kTauInput}, {}}); }
TEST(DartBlocksStep0, TauLoopInputWithoutSkipStream) {
  expect_step0_equivalent({{R"({"type":"tau_fusion","site":"loop_input","skip_stream":false})"}, {}});
}
TEST(DartBlocksStep0, TauLoopInputTwoBlocksOddLoops) {
  expect_step0_equivalent({{kTauInput}, {"num_unique_blocks=2", "num_loops=5"}});
}
TEST(DartBlocksStep0, TauLoopInputFewerLoops) { expect_step0_equivalent({{kTauInput}, {}, 3}); }
TEST(DartBlocksStep0, TauLoopOutputReadsTheLastLoop) { expect_step0_equivalent({{kTauOutput}, {}}); }
TEST(DartBlocksStep0, TauLoopOutputFewerLoops) {
  expect_step0_equivalent({{kTauOutput}, {}, 2});
  expect_step0_equivalent({{kTauOutput}, {}, 3});
}
TEST(DartBlocksStep0, IdentityHeadGateIsTheUngatedAttention) {
  expect_step0_equivalent({{kHeadGate}, {"num_unique_blocks=2"}});
}
TEST(DartBlocksStep0, AllThreeTogether) {
  expect_step0_equivalent({{kTauInput, kHeadGate, kTauOutput}, {"num_unique_blocks=2", "num_loops=3"}});
}

TEST(DartBlocksStep0, NonIdentityBlocksDoChangeTheModel) {
  // The check above can fail: the paper's head gate and DAAM are different functions at step 0.
  for (const std::string& entry : {std::string(R"({"type":"head_gate","site":"attn_output","identity_init":false})"),
                                   std::string(R"({"type":"daam","site":"block_output"})")}) {
    SCOPED_TRACE(entry);
    auto [plain, with] = step0_pair({{entry}, {}}, false);
    const auto x = test::random_tokens(32, 64, 41), y = test::random_tokens(32, 64, 42);
    EXPECT_NE(plain->losses(x, y, 2), with->losses(x, y, 2));
  }
}

// ---------------------------------------------------------------------------------------------
// What each site feeds its block: checked with τ's controllers pinned (last layer 0, bias 0, so
// τ = ½ everywhere) and the mix chosen, which turns τ-fusion into a known linear mix of its streams.

void pin_tau(const ParamLayout& layout, std::vector<float>& p, const std::string& prefix, const std::vector<std::vector<float>>& mix) {
  for (size_t i = 0; i < mix.size(); ++i) {
    const std::string c = prefix + "ctrl." + std::to_string(i) + ".";
    set_tensor(layout, p, c + "proj.weight", [](int64_t) { return 0.0f; });
    set_tensor(layout, p, c + "proj.bias", [](int64_t) { return 0.0f; });
    const auto& m = mix[i];
    set_tensor(layout, p, prefix + "mix." + std::to_string(i), [&](int64_t j) { return 2.0f * m[static_cast<size_t>(j) % m.size()]; });
  }
}

std::vector<float> random_vector(int64_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = static_cast<float>(rng.normal(0.5, 0.5));
  return v;
}

void expect_losses_near(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-4) << what << " token " << i;
}

TEST(DartBlocksSites, LoopInputStreamsAreThePassInputThenX0) {
  // τ with mix (a, b[, 0]) per feature is resid_mix with rows (a, b) on every loop, up to rounding.
  for (bool skip : {true, false}) {
    SCOPED_TRACE(skip ? "skip_stream" : "no skip_stream");
    const std::string entry = std::string(R"({"type":"tau_fusion","site":"loop_input","hidden":16,"skip_stream":)") +
                              (skip ? "true" : "false") + "}";
    auto [plain, with] = step0_pair({{entry}, {"num_unique_blocks=2"}}, false);
    const auto a = random_vector(32, 51), b = random_vector(32, 52), zero = std::vector<float>(32, 0.0f);
    std::vector<float> pp = plain->host_params(), pw = with->host_params();
    for (const std::string blk : {"blocks.0.", "blocks.1."}) {
      set_tensor(plain->model->layout(), pp, blk + "resid_mix",
                 [&](int64_t i) { return (i < 4 * 32 ? a : b)[static_cast<size_t>(i % 32)]; });
      std::vector<std::vector<float>> mix = {a, b};
      if (skip) mix.push_back(zero);
      pin_tau(with->model->layout(), pw, blk + "loop_input.tau_fusion.", mix);
    }
    plain->set_host_params(pp);
    with->set_host_params(pw);
    const auto x = test::random_tokens(32, 64, 53), y = test::random_tokens(32, 64, 54);
    plain->model->forward(ModelBatch{x.data(), y.data(), 2, 16});
    with->model->forward(ModelBatch{x.data(), y.data(), 2, 16});
    const auto lp = every_loop_losses(plain->dart()), lw = every_loop_losses(with->dart());
    for (size_t l = 0; l < lp.size(); ++l) expect_losses_near(lw[l], lp[l], "loop " + std::to_string(l));
  }
}

TEST(DartBlocksSites, LoopInputSkipStreamIsTheEncoderOutputOfTheLoopsSkip) {
  // 4 loops: loops 0 and 1 push, loop 2 adds loop 1's output, loop 3 loop 0's. The skip stream is
  // zero on loops 0 and 1; on loop 2 it is loop 1's output, which is also loop 2's input x, so
  // τ's mix (a, b, c) there equals resid_mix (a + c, b).
  auto [plain, with] = step0_pair({{kTauInput}, {}}, false);
  const ParamLayout& lw = with->model->layout();
  const std::string prefix = "block.loop_input.tau_fusion.";
  const auto a = random_vector(32, 61), b = random_vector(32, 62), c = random_vector(32, 63);
  std::vector<float> pw = with->host_params();
  const auto x = test::random_tokens(32, 64, 64), y = test::random_tokens(32, 64, 65);
  const ModelBatch batch{x.data(), y.data(), 2, 16};
  auto losses_with_mix = [&](const std::vector<float>& skip_mix) {
    pin_tau(lw, pw, prefix, {a, b, skip_mix});
    with->set_host_params(pw);
    with->model->forward(batch);
    return every_loop_losses(with->dart());
  };
  const auto without = losses_with_mix(std::vector<float>(32, 0.0f));
  const auto skip = losses_with_mix(c);
  EXPECT_EQ(skip[0], without[0]);
  EXPECT_EQ(skip[1], without[1]);
  EXPECT_NE(skip[2], without[2]);
  EXPECT_NE(skip[3], without[3]);

  std::vector<float> pp = plain->host_params();
  set_tensor(plain->model->layout(), pp, "block.resid_mix", [&](int64_t i) {
    const int64_t row = i / (4 * 32), loop = (i / 32) % 4, j = i % 32;
    if (row == 1) return b[static_cast<size_t>(j)];
    return a[static_cast<size_t>(j)] + (loop == 2 ? c[static_cast<size_t>(j)] : 0.0f);
  });
  plain->set_host_params(pp);
  plain->model->forward(batch);
  const auto reference = every_loop_losses(plain->dart());
  for (size_t l = 0; l < 3; ++l) expect_losses_near(skip[l], reference[l], "loop " + std::to_string(l));
}

TEST(DartBlocksSites, LoopOutputFeedsTheLastHeadAndLeavesTheOthers) {
  // With a one-hot mix on stream j, the last run loop's head reads loop j's output (after its
  // U-Net skip) bit for bit, i.e. scores what loop j's own head scores; earlier heads are the plain
  // model's. In a run of n < L loops, streams i >= n repeat loop n − 1's output.
  auto [plain, with] = step0_pair({{kTauOutput}, {}}, false);
  const ParamLayout& lw = with->model->layout();
  const auto x = test::random_tokens(32, 64, 71), y = test::random_tokens(32, 64, 72);
  const ModelBatch batch{x.data(), y.data(), 2, 16};
  plain->model->set_training(false);
  with->model->set_training(false);
  for (int64_t loops : {4, 3, 2}) {
    plain->dart().forward_loops(batch, loops);
    const auto reference = every_loop_losses(plain->dart());
    for (int64_t j = 0; j < 4; ++j) {
      SCOPED_TRACE("loops " + std::to_string(loops) + ", one-hot stream " + std::to_string(j));
      std::vector<std::vector<float>> mix(4, std::vector<float>(1, 0.0f));
      mix[static_cast<size_t>(j)][0] = 1.0f;
      std::vector<float> pw = with->host_params();
      pin_tau(lw, pw, "loop_output.tau_fusion.", mix);
      with->set_host_params(pw);
      with->dart().forward_loops(batch, loops);
      const auto got = every_loop_losses(with->dart());
      ASSERT_EQ(got.size(), static_cast<size_t>(loops));
      for (int64_t l = 0; l + 1 < loops; ++l) EXPECT_EQ(got[static_cast<size_t>(l)], reference[static_cast<size_t>(l)]) << "loop " << l;
      EXPECT_EQ(got.back(), reference[static_cast<size_t>(std::min(j, loops - 1))]);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 4. Layout: names, shapes, order, initialisation and optimizer groups of the block tensors.

struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
  OptimGroup group;
};

std::vector<ExpectedTensor> tau_tensors(const std::string& prefix, int64_t n, int64_t d, int64_t k, int64_t h) {
  std::vector<ExpectedTensor> t;
  for (int64_t i = 0; i < n; ++i) {
    const std::string s = std::to_string(i), c = prefix + "ctrl." + s + ".";
    if (k != d) t.push_back({prefix + "proj_in." + s + ".weight", {k, d}, OptimGroup::Matrix});
    t.push_back({c + "fc.weight", {h, (n + 1) * k}, OptimGroup::Matrix});
    t.push_back({c + "fc.bias", {h}, OptimGroup::Scalar});
    t.push_back({c + "proj.weight", {k, h}, OptimGroup::Matrix});
    t.push_back({c + "proj.bias", {k}, OptimGroup::Scalar});
    t.push_back({prefix + "mix." + s, {k}, OptimGroup::Scalar});
  }
  if (k != d) t.push_back({prefix + "proj_out.weight", {d, k}, OptimGroup::Matrix});
  return t;
}

std::vector<ExpectedTensor> daam_tensors(const std::string& prefix, int64_t g, int64_t n) {
  std::vector<ExpectedTensor> t = {{prefix + "offset", {g, n}, OptimGroup::Scalar}, {prefix + "scale", {g, n}, OptimGroup::Scalar}};
  if (n > 1) t.push_back({prefix + "mix_logits", {g, n}, OptimGroup::Scalar});
  return t;
}

// The layout = the plain layout without resid_mix (when τ replaces it), each block's tensors after
// its loop_embed.weight in `per_block` order, then `model_level` at the end.
void expect_layout(const ParamLayout& layout, const ParamLayout& plain, bool drops_resid_mix,
                   const std::function<std::vector<ExpectedTensor>(int64_t block)>& per_block,
                   const std::vector<ExpectedTensor>& model_level) {
  std::vector<ExpectedTensor> expected;
  int64_t block = 0;
  for (const ParamSpec& s : plain.specs()) {
    if (drops_resid_mix && ends_with(s.name, "resid_mix")) continue;
    expected.push_back({s.name, s.shape, s.group});
    if (ends_with(s.name, "loop_embed.weight")) {
      for (auto& t : per_block(block)) expected.push_back(t);
      ++block;
    }
  }
  for (const auto& t : model_level) expected.push_back(t);
  ASSERT_EQ(layout.specs().size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const ParamSpec& s = layout.specs()[i];
    EXPECT_EQ(s.name, expected[i].name) << "position " << i;
    EXPECT_EQ(s.shape, expected[i].shape) << s.name;
    EXPECT_EQ(s.group, expected[i].group) << s.name;
  }
}

TEST(DartBlocksLayout, EveryBlockInConfigOrderWithLoopOutputLast) {
  // Config order: loop_output first, yet its tensors close the layout.
  const std::vector<std::string> entries = {
      R"({"type":"tau_fusion","site":"loop_output","hidden":16,"latent":8})",
      R"({"type":"daam","site":"mlp_input","gaussians":3})",
      R"({"type":"head_gate","site":"attn_output"})",
      R"({"type":"tau_fusion","site":"loop_input","hidden":12})",
      R"({"type":"daam","site":"attn_output","groups":2})",
      R"({"type":"daam","site":"block_output","groups":8})"};
  const Config config = test::small_dart_config({blocks_setting(entries)});
  const ParamLayout layout = model_layout(config);
  const ParamLayout plain = model_layout(test::small_dart_config());
  expect_layout(
      layout, plain, true,
      [](int64_t) {
        std::vector<ExpectedTensor> t = daam_tensors("block.mlp_input.daam.", 4, 3);  // groups default: num_heads
        t.push_back({"block.attn_output.head_gate.weight", {4, 32}, OptimGroup::Scalar});
        for (auto& e : tau_tensors("block.loop_input.tau_fusion.", 3, 32, 32, 12)) t.push_back(e);
        for (auto& e : daam_tensors("block.attn_output.daam.", 2, 1)) t.push_back(e);
        for (auto& e : daam_tensors("block.block_output.daam.", 8, 1)) t.push_back(e);
        return t;
      },
      tau_tensors("loop_output.tau_fusion.", 4, 32, 8, 16));

  // The model make_model builds has exactly that layout (pack and inspect rebuild it from the config).
  auto backend = make_cpu_backend();
  const auto model = make_model(config, *backend, 1, 16);
  ASSERT_EQ(model->layout().specs().size(), layout.specs().size());
  for (size_t i = 0; i < layout.specs().size(); ++i) {
    EXPECT_EQ(model->layout().specs()[i].name, layout.specs()[i].name);
    EXPECT_EQ(model->layout().specs()[i].offset, layout.specs()[i].offset);
  }
}

TEST(DartBlocksLayout, PerUniqueBlockTensorsFollowEachBlock) {
  const ParamLayout layout = model_layout(test::small_dart_config(
      {"num_unique_blocks=2", "num_loops=3",
       blocks_setting({R"({"type":"daam","site":"mlp_input","groups":2})", kTauInput, kHeadGate})}));
  const ParamLayout plain = model_layout(test::small_dart_config({"num_unique_blocks=2", "num_loops=3"}));
  expect_layout(
      layout, plain, true,
      [](int64_t b) {
        const std::string p = "blocks." + std::to_string(b) + ".";
        std::vector<ExpectedTensor> t = daam_tensors(p + "mlp_input.daam.", 2, 1);
        for (auto& e : tau_tensors(p + "loop_input.tau_fusion.", 3, 32, 32, 16)) t.push_back(e);
        t.push_back({p + "attn_output.head_gate.weight", {4, 32}, OptimGroup::Scalar});
        return t;
      },
      {});
  EXPECT_THROW(layout.find("blocks.0.resid_mix"), Error);
}

TEST(DartBlocksLayout, StreamsOfTheLoopInputFusion) {
  // No skip stream when switched off, nor with one loop (no U-Net); resid_mix stays without τ at loop_input.
  auto streams = [](const std::vector<std::string>& overrides) {
    const ParamLayout layout = model_layout(test::small_dart_config(overrides));
    int64_t n = 0;
    while (true) {
      try {
        layout.find("block.loop_input.tau_fusion.mix." + std::to_string(n));
      } catch (const Error&) {
        return n;
      }
      ++n;
    }
  };
  EXPECT_EQ(streams({blocks_setting({kTauInput})}), 3);
  EXPECT_EQ(streams({blocks_setting({R"({"type":"tau_fusion","site":"loop_input","skip_stream":false})"})}), 2);
  EXPECT_EQ(streams({blocks_setting({kTauInput}), "num_loops=1"}), 2);
  EXPECT_EQ(streams({blocks_setting({kTauInput}), "num_loops=2"}), 3);
  const ParamLayout gate_only = model_layout(test::small_dart_config({blocks_setting({kHeadGate, kTauOutput})}));
  EXPECT_EQ(gate_only.find("block.resid_mix").shape, (std::vector<int64_t>{2, 4, 32}));
  EXPECT_EQ(gate_only.find("loop_output.tau_fusion.ctrl.3.fc.weight").shape, (std::vector<int64_t>{16, 5 * 32}));
}

TEST(DartBlocksLayout, InitialValuesFollowTheSpec) {
  const std::vector<std::string> entries = {
      R"({"type":"tau_fusion","site":"loop_input","hidden":16})",
      R"({"type":"tau_fusion","site":"loop_output","hidden":16,"init_logit":1.5})",
      R"({"type":"head_gate","site":"attn_output","identity_init":false})",
      R"({"type":"daam","site":"attn_output","init_scale":3.0})",
      R"({"type":"daam","site":"mlp_input","gaussians":3,"init_offset_std":0.25})",
      R"({"type":"daam","site":"block_output"})"};
  const ParamLayout layout = model_layout(test::small_dart_config({blocks_setting(entries)}));
  std::vector<float> p(static_cast<size_t>(layout.buffer_elements()));
  layout.initialize(p.data(), 3);
  auto all_equal = [&](const std::string& name, float v) {
    for (float x : tensor_values(layout, p, name)) ASSERT_EQ(x, v) << name;
  };
  const std::string in = "block.loop_input.tau_fusion.";
  all_equal(in + "mix.0", 2.0f);  // (1, 0, 0) / σ(0)
  all_equal(in + "mix.1", 0.0f);
  all_equal(in + "mix.2", 0.0f);
  for (int i = 0; i < 3; ++i) {
    all_equal(in + "ctrl." + std::to_string(i) + ".proj.weight", 0.0f);
    all_equal(in + "ctrl." + std::to_string(i) + ".proj.bias", 0.0f);
    all_equal(in + "ctrl." + std::to_string(i) + ".fc.bias", 0.0f);
    EXPECT_EQ(layout.find(in + "ctrl." + std::to_string(i) + ".fc.weight").init, InitKind::UniformFanIn);
  }
  const std::string out = "loop_output.tau_fusion.";
  const float sigma = static_cast<float>(1.0 / (1.0 + std::exp(-1.5)));
  for (int i = 0; i < 4; ++i) {
    all_equal(out + "ctrl." + std::to_string(i) + ".proj.bias", 1.5f);
    for (float v : tensor_values(layout, p, out + "mix." + std::to_string(i)))
      ASSERT_NEAR(v, i == 3 ? 1.0f / sigma : 0.0f, 1e-6f) << i;  // (0, 0, 0, 1) / σ(b)
  }
  EXPECT_EQ(layout.find("block.attn_output.head_gate.weight").init, InitKind::UniformFanIn);
  all_equal("block.attn_output.daam.scale", 3.0f);
  all_equal("block.attn_output.daam.offset", 0.0f);
  all_equal("block.block_output.daam.scale", 2.0f);
  const ParamSpec& offset = layout.find("block.mlp_input.daam.offset");
  EXPECT_EQ(offset.init, InitKind::Normal);
  EXPECT_EQ(offset.init_value, 0.25f);
  all_equal("block.mlp_input.daam.mix_logits", 0.0f);
  const ParamLayout identity = model_layout(test::small_dart_config({blocks_setting({kHeadGate})}));
  std::vector<float> q(static_cast<size_t>(identity.buffer_elements()));
  identity.initialize(q.data(), 3);
  for (float v : tensor_values(identity, q, "block.attn_output.head_gate.weight")) ASSERT_EQ(v, 0.0f);
}

// ---------------------------------------------------------------------------------------------
// 5. Errors in the setting, as a user meets them (config + make_model).

std::string build_error(const std::vector<std::string>& overrides, bool gpt = false) {
  try {
    const Config config = gpt ? test::small_gpt_config(overrides) : test::small_dart_config(overrides);
    auto backend = make_cpu_backend();
    make_model(config, *backend, 1, 16);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

void expect_error(const std::vector<std::string>& entries, const std::vector<std::string>& fragments, bool gpt = false) {
  const std::string message = build_error({blocks_setting(entries)}, gpt);
  for (const std::string& fragment : fragments)
    EXPECT_NE(message.find(fragment), std::string::npos) << "'" << fragment << "' missing from: " << message;
}

TEST(DartBlocksErrors, NameTheEntryAndListWhatIsValid) {
  const std::string valid_types = "tau_fusion, daam, head_gate";
  expect_error({R"({"type":"gate","site":"attn_output"})"}, {"blocks[0]", "'gate'", valid_types});
  expect_error({kHeadGate, R"({"type":"daam","site":"mlp_output"})"},
               {"blocks[1]", "'mlp_output'", "loop_input, loop_output, attn_output, mlp_input, block_output"});
  expect_error({R"({"type":"head_gate","site":"mlp_input"})"}, {"blocks[0]", "head_gate", "'mlp_input'", "attn_output"});
  expect_error({R"({"type":"tau_fusion","site":"attn_output"})"}, {"blocks[0]", "loop_input, loop_output"});
  expect_error({R"({"type":"daam","site":"loop_input"})"}, {"blocks[0]", "attn_output, mlp_input, block_output"});
  expect_error({R"({"type":"daam","site":"mlp_input","group":2})"},
               {"blocks[0]", "'group'", "groups, gaussians, residual, eps, init_scale, init_offset_std"});
  expect_error({R"({"type":"tau_fusion","site":"loop_input","hidden_size":8})"},
               {"blocks[0]", "'hidden_size'", "hidden, latent, init_logit, skip_stream"});
  expect_error({R"({"type":"head_gate","site":"attn_output","identity":true})"}, {"blocks[0]", "identity_init"});
  expect_error({R"({"type":"daam","site":"mlp_input","groups":"two"})"}, {"blocks[0].groups", "integer"});
  expect_error({R"({"type":"tau_fusion","site":"loop_input","hidden":1.5})"}, {"blocks[0].hidden", "integer"});
  expect_error({R"({"type":"head_gate","site":"attn_output","identity_init":"yes"})"}, {"blocks[0].identity_init"});
  expect_error({kTauInput, R"({"type":"daam","site":"block_output","residual":"no"})"}, {"blocks[1].residual"});
  expect_error({R"({"type":"daam","site":"mlp_input"})", kHeadGate, R"({"type":"daam","site":"mlp_input","groups":2})"},
               {"blocks[2]", "blocks[0]"});
  expect_error({R"({"site":"mlp_input"})"}, {"blocks[0]", "type", valid_types});
  expect_error({R"("daam")"}, {"blocks[0]"});
  expect_error({R"({"type":"tau_fusion","site":"loop_output","skip_stream":false})"}, {"blocks[0]", "skip_stream"});
}

TEST(DartBlocksErrors, SizesTheModelCannotTakeNameTheEntry) {
  // 32 features do not split into 5 DAAM groups.
  expect_error({kTauInput, R"({"type":"daam","site":"mlp_input","groups":5})"}, {"blocks[1]", "groups"});
}

TEST(DartBlocksErrors, BlocksNeedDart) {
  expect_error({R"({"type":"daam","site":"mlp_input"})"}, {"blocks", "dart"}, /*gpt=*/true);
  EXPECT_EQ(build_error({}, true), "no error");
}

TEST(DartBlocksErrors, TheSameTypeAtDifferentSitesIsFine) {
  EXPECT_EQ(build_error({blocks_setting({R"({"type":"daam","site":"mlp_input"})", R"({"type":"daam","site":"attn_output"})",
                                         R"({"type":"daam","site":"block_output"})", kTauInput, kTauOutput})}),
            "no error");
}

// ---------------------------------------------------------------------------------------------
// 6. observe_blocks: one observation per use, on the token rows.

std::map<std::pair<std::string, int64_t>, BlockObservation> by_use(const std::vector<BlockObservation>& obs) {
  std::map<std::pair<std::string, int64_t>, BlockObservation> m;
  for (const BlockObservation& o : obs) EXPECT_TRUE(m.emplace(std::make_pair(o.name, o.loop), o).second) << o.name << " loop " << o.loop << " twice";
  return m;
}

std::vector<std::string> numbered(const std::string& stem, int64_t n) {
  std::vector<std::string> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(stem + std::to_string(i));
  return v;
}

TEST(DartBlocksObserve, OneObservationPerUseWithTheSpecsChannels) {
  const std::vector<std::string> entries = {
      R"({"type":"tau_fusion","site":"loop_input","hidden":16})",
      R"({"type":"head_gate","site":"attn_output"})",
      R"({"type":"daam","site":"attn_output","groups":2})",
      R"({"type":"daam","site":"mlp_input","gaussians":3,"residual":true})",
      R"({"type":"daam","site":"block_output","groups":8})",
      R"({"type":"tau_fusion","site":"loop_output","hidden":16,"latent":8})"};
  DartFixture f({blocks_setting(entries), "num_unique_blocks=2"}, /*max_rows=*/3);
  perturb_block_tensors(f, 81);
  std::vector<BlockObservation> obs;
  f.model->observe_blocks(obs);
  EXPECT_TRUE(obs.empty()) << "observations before any forward";

  const auto x = test::random_tokens(32, 64, 82), y = test::random_tokens(32, 64, 83);
  const ModelBatch batch{x.data(), y.data(), 2, 16};  // fewer rows than planned: tokens follow the batch
  struct Site {
    std::string site, type;
    std::vector<std::string> channels;
    int64_t width;
  };
  const std::vector<Site> per_block = {{"loop_input", "tau_fusion", {"x", "x0", "skip"}, 32},
                                       {"attn_output", "head_gate", numbered("head", 4), 1},
                                       {"attn_output", "daam", numbered("group", 2), 1},
                                       {"mlp_input", "daam", numbered("group", 4), 1},
                                       {"block_output", "daam", numbered("group", 8), 1}};
  for (int64_t loops : {4, 3}) {
    SCOPED_TRACE("loops " + std::to_string(loops));
    f.model->set_training(loops < 4);
    f.dart().forward_loops(batch, loops);
    // One type only (what training's τ log asks for): exactly that type's uses, nothing else.
    std::vector<BlockObservation> tau_only;
    f.model->observe_blocks(tau_only, "tau_fusion");
    EXPECT_EQ(tau_only.size(), static_cast<size_t>(2 * loops + 1));
    for (const BlockObservation& o : tau_only) EXPECT_EQ(o.type, "tau_fusion") << o.name;
    f.model->observe_blocks(obs);
    EXPECT_EQ(obs.size(), static_cast<size_t>(per_block.size() * 2 * loops + 1));
    const auto uses = by_use(obs);
    auto check = [&](const std::string& name, int64_t loop, const std::string& type, const std::string& site, int64_t block,
                     const std::vector<std::string>& channels, int64_t width) {
      SCOPED_TRACE(name + " loop " + std::to_string(loop));
      const auto it = uses.find({name, loop});
      ASSERT_NE(it, uses.end()) << "no observation";
      const BlockObservation& o = it->second;
      EXPECT_EQ(o.type, type);
      EXPECT_EQ(o.site, site);
      EXPECT_EQ(o.block, block);
      EXPECT_EQ(o.channels, channels);
      EXPECT_EQ(o.tokens, 32);
      EXPECT_EQ(o.width, width);
      ASSERT_EQ(o.values.size(), channels.size() * 32 * static_cast<size_t>(width));
      float lo = 1e30f, hi = -1e30f;
      for (float v : o.values) lo = std::min(lo, v), hi = std::max(hi, v);
      EXPECT_GT(lo, 0.0f);
      if (type == "daam")
        EXPECT_LE(hi, 1.0f);  // density: the gate averaged over a group, in (0, 1]
      else
        EXPECT_LT(hi, 1.0f);  // τ and the head gate are sigmoids
      EXPECT_LT(lo, hi) << "every token and channel the same value";
    };
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t l = 0; l < loops; ++l)
        for (const Site& s : per_block)
          check("blocks." + std::to_string(b) + "." + s.site + "." + s.type, l, s.type, s.site, b, s.channels, s.width);
    check("loop_output.tau_fusion", loops - 1, "tau_fusion", "loop_output", -1, numbered("loop", 4), 8);
  }
}

TEST(DartBlocksObserve, NamesOfAOneBlockModelAndNoSkipChannel) {
  DartFixture f({blocks_setting({R"({"type":"tau_fusion","site":"loop_input","skip_stream":false})", kHeadGate})});
  const auto x = test::random_tokens(16, 64, 84), y = test::random_tokens(16, 64, 85);
  f.model->forward(ModelBatch{x.data(), y.data(), 1, 16});
  std::vector<BlockObservation> obs;
  f.model->observe_blocks(obs);
  const auto uses = by_use(obs);
  ASSERT_EQ(uses.size(), 8u);
  EXPECT_EQ(uses.at({"block.loop_input.tau_fusion", 2}).channels, (std::vector<std::string>{"x", "x0"}));
  EXPECT_EQ(uses.at({"block.loop_input.tau_fusion", 2}).tokens, 16);
  EXPECT_EQ(uses.at({"block.attn_output.head_gate", 3}).block, 0);

  DartFixture plain({});
  plain.model->forward(ModelBatch{x.data(), y.data(), 1, 16});
  plain.model->observe_blocks(obs);
  EXPECT_TRUE(obs.empty());
}

TEST(DartBlocksObserve, ValuesBelongToTheirTokens) {
  // Editing input token t of row 1 changes observed values at (row 1, t) and never before it nor in
  // row 0: the observations are the token rows, in order, with the memory rows dropped.
  DartFixture f({blocks_setting(every_block())});
  perturb_block_tensors(f, 86);
  f.model->set_training(false);
  const auto y = test::random_tokens(32, 64, 88);
  auto observe = [&](const std::vector<int32_t>& x) {
    f.model->forward(ModelBatch{x.data(), y.data(), 2, 16});
    std::vector<BlockObservation> obs;
    f.model->observe_blocks(obs);
    return by_use(obs);
  };
  const auto x = test::random_tokens(32, 64, 87);
  const auto base = observe(x);
  for (int64_t t : {0, 5, 15}) {
    auto x2 = x;
    x2[static_cast<size_t>(16 + t)] = (x2[static_cast<size_t>(16 + t)] + 9) % 64;
    const auto changed = observe(x2);
    ASSERT_EQ(changed.size(), base.size());
    for (const auto& [use, o] : base) {
      SCOPED_TRACE(use.first + " loop " + std::to_string(use.second) + ", edited token " + std::to_string(t));
      const BlockObservation& c = changed.at(use);
      bool changed_at_t = false;
      for (size_t ch = 0; ch < o.channels.size(); ++ch)
        for (int64_t tok = 0; tok < 32; ++tok)
          for (int64_t w = 0; w < o.width; ++w) {
            const size_t i = (ch * 32 + static_cast<size_t>(tok)) * static_cast<size_t>(o.width) + static_cast<size_t>(w);
            if (tok < 16 + t) ASSERT_EQ(c.values[i], o.values[i]) << "token " << tok;
            if (tok == 16 + t) changed_at_t |= c.values[i] != o.values[i];
          }
      EXPECT_TRUE(changed_at_t);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 7. Training with every block on: the loss goes down and everything stays finite.

TEST(DartBlocksTraining, EveryBlockTrains) {
  DartFixture f({blocks_setting(every_block()), "num_unique_blocks=2", "num_loops=3", "loop_dropout=1"});
  std::vector<float> host(static_cast<size_t>(f.model->layout().buffer_elements()));
  f.model->layout().initialize(host.data(), 5);
  f.set_host_params(host);
  Optimizer optimizer(f.model->layout(), *f.backend, f.model->params(), f.model->grads(), OptimizerSettings::from_config(f.config));
  const auto x = test::random_tokens(32, 64, 91), y = test::random_tokens(32, 64, 92);
  const ModelBatch batch{x.data(), y.data(), 2, 16};
  f.model->set_training(false);
  const double before = f.model->forward(batch);
  for (int step = 0; step < 8; ++step) {
    f.model->set_training(true);
    f.backend->fill(f.model->grads(), 0.0f);
    ASSERT_TRUE(std::isfinite(f.model->forward(batch))) << "step " << step;
    f.model->backward(1.0f);
    optimizer.step(1.0, 0.9);
  }
  f.model->set_training(false);
  const double after = f.model->forward(batch);
  EXPECT_TRUE(std::isfinite(after));
  EXPECT_LT(after, before - 0.1);
  const std::vector<float> p = f.host_params();
  for (const ParamSpec& s : f.model->layout().specs()) {
    bool moved = false;
    for (int64_t i = 0; i < s.numel(); ++i) {
      const size_t k = static_cast<size_t>(s.offset + i);
      ASSERT_TRUE(std::isfinite(p[k])) << s.name;
      moved |= p[k] != host[k];
    }
    if (is_block_tensor(s.name)) EXPECT_TRUE(moved) << s.name << " never updated";
  }
  std::vector<BlockObservation> obs;
  f.model->observe_blocks(obs);
  EXPECT_FALSE(obs.empty());
  for (const BlockObservation& o : obs)
    for (float v : o.values) ASSERT_TRUE(std::isfinite(v)) << o.name;
}

}  // namespace
}  // namespace dg
