// The block modules (src/model/blocks/) against their independent PyTorch versions
// (scripts/reference/blocks_reference.py, through `oracle.py block`): the same parameters, inputs
// and upstream gradient in, then the outputs, the interpretability output (τ, density, gate) and
// every input and parameter gradient compared. The oracle computes in float64, the CPU backend in
// float32, so tolerances are relative to each tensor's scale. Skips when torch is missing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "backend/cpu/cpu_backend.h"
#include "model/blocks/daam.h"
#include "model/blocks/head_gate.h"
#include "model/blocks/tau_fusion.h"
#include "oracle_support.h"
#include "test_support.h"
#include "train/safetensors.h"

namespace dg::blocks {
namespace {

using FVec = std::vector<float>;

using test::torch_available;

FVec random_floats(int64_t n, uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  FVec v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}
Tensor mat(FVec& v, int64_t rows, int64_t cols) { return Tensor::f32(v.data(), {rows, cols}); }
Tensor flat(FVec& v) { return Tensor::f32(v.data(), {static_cast<int64_t>(v.size())}); }

// One block run: the parameters and the tensors the oracle reads, and what dartgolf computed.
struct Run {
  std::string kind;
  nlohmann::json config;
  std::map<std::string, std::pair<std::vector<int64_t>, FVec>> inputs;  // name → (shape, values), oracle input
  std::map<std::string, FVec> ours;                                     // out, extra, grad.<name>
};

// Parameters of `params` drawn at a generic point (scale c kept away from 0: it divides).
void randomize(const BlockParams& params, FVec& buffer, uint64_t seed) {
  for (const ParamSpec& s : params.specs()) {
    const bool scale = s.name.ends_with(".scale");
    const FVec r = random_floats(s.numel(), seed + static_cast<uint64_t>(s.offset), scale ? 0.8f : -0.6f,
                                 scale ? 2.5f : 0.6f);
    std::copy(r.begin(), r.end(), buffer.begin() + s.offset);
  }
}

// The parameters (under their suffix names) and their gradients into the run.
void record_params(Run& run, const BlockParams& params, const FVec& values, const FVec& grads) {
  for (const ParamSpec& s : params.specs()) {
    const std::string suffix = s.name.substr(params.prefix().size());
    run.inputs[suffix] = {s.shape, FVec(values.begin() + s.offset, values.begin() + s.offset + s.numel())};
    run.ours["grad." + suffix] = FVec(grads.begin() + s.offset, grads.begin() + s.offset + s.numel());
  }
}

Run run_tau_fusion(int64_t n, int64_t latent) {
  const int64_t d = 10, h = 6, rows = 7;
  CpuBackend backend;
  ParamLayout layout;
  TauFusion block({n, d, latent, h, {}, 0.0}, "blocks.0.fusion.");
  block.add_params(layout);
  Arena arena(backend);
  const auto acts = block.reserve_activations(arena, rows);
  const auto scratch = block.reserve_scratch(arena, rows);
  arena.commit();
  FVec params(static_cast<size_t>(layout.buffer_elements())), grads(params.size(), 0.0f);
  layout.initialize(params.data(), 1);
  randomize(block.params(), params, 2);

  Run run{"tau_fusion", {{"streams", n}, {"dim", d}, {"latent", latent}, {"hidden", h}}, {}, {}};
  std::vector<FVec> streams, dstreams(n, FVec(rows * d, 0.0f));
  std::vector<Tensor> sv, dv;
  for (int64_t i = 0; i < n; ++i) streams.push_back(random_floats(rows * d, 10 + i, -2, 2));
  for (int64_t i = 0; i < n; ++i) sv.push_back(mat(streams[i], rows, d)), dv.push_back(mat(dstreams[i], rows, d));
  FVec dout = random_floats(rows * d, 20, -0.5, 0.5), out(rows * d);
  block.forward(backend, arena, acts, scratch, flat(params), sv, mat(out, rows, d));
  const Tensor tau = block.tau(arena, acts, rows);
  run.ours["tau"] = FVec(tau.f32(), tau.f32() + tau.numel());
  block.backward(backend, arena, acts, scratch, flat(params), flat(grads), sv, dv, mat(dout, rows, d));
  run.ours["out"] = out;
  for (int64_t i = 0; i < n; ++i) {
    run.inputs["stream." + std::to_string(i)] = {{rows, d}, streams[i]};
    run.ours["grad.stream." + std::to_string(i)] = dstreams[i];
  }
  run.inputs["dout"] = {{rows, d}, dout};
  record_params(run, block.params(), params, grads);
  return run;
}

Run run_daam(int64_t groups, int64_t gaussians, bool residual) {
  const int64_t d = 24, rows = 9;
  CpuBackend backend;
  ParamLayout layout;
  DaamConfig config;
  config.dim = d;
  config.groups = groups;
  config.gaussians = gaussians;
  config.residual = residual;
  Daam block(config, "blocks.1.mlp_in.daam.");
  block.add_params(layout);
  Arena arena(backend);
  const auto acts = block.reserve_activations(arena, rows);
  arena.commit();
  FVec params(static_cast<size_t>(layout.buffer_elements())), grads(params.size(), 0.0f);
  layout.initialize(params.data(), 3);
  randomize(block.params(), params, 4);

  Run run{"daam",
          {{"dim", d}, {"groups", groups}, {"gaussians", gaussians}, {"residual", residual}, {"eps", config.eps}},
          {},
          {}};
  FVec x = random_floats(rows * d, 30, -2, 2), dx(rows * d, 0.0f), dout = random_floats(rows * d, 31, -0.5, 0.5);
  FVec out(rows * d), density(rows * groups);
  block.forward(backend, arena, acts, flat(params), mat(x, rows, d), mat(out, rows, d));
  block.density(backend, arena, acts, flat(params), mat(x, rows, d), mat(density, rows, groups));
  block.backward(backend, arena, acts, flat(params), flat(grads), mat(x, rows, d), mat(dx, rows, d), mat(dout, rows, d));
  run.ours["out"] = out;
  run.ours["density"] = density;
  run.ours["grad.x"] = dx;
  run.inputs["x"] = {{rows, d}, x};
  run.inputs["dout"] = {{rows, d}, dout};
  record_params(run, block.params(), params, grads);
  return run;
}

Run run_head_gate(bool identity_init) {
  const int64_t d = 16, H = 4, hd = 6, rows = 8;
  CpuBackend backend;
  ParamLayout layout;
  HeadGate block({d, H, hd, identity_init}, "blocks.0.attn.head_gate.");
  block.add_params(layout);
  Arena arena(backend);
  const auto acts = block.reserve_activations(arena, rows);
  const auto scratch = block.reserve_scratch(arena, rows);
  arena.commit();
  FVec params(static_cast<size_t>(layout.buffer_elements())), grads(params.size(), 0.0f);
  layout.initialize(params.data(), 5);
  randomize(block.params(), params, 6);

  Run run{"head_gate", {{"dim", d}, {"heads", H}, {"head_dim", hd}, {"identity_init", identity_init}}, {}, {}};
  FVec x = random_floats(rows * d, 40, -2, 2), attn = random_floats(rows * H * hd, 41, -2, 2);
  FVec dout = random_floats(rows * H * hd, 42, -0.5, 0.5), out(attn.size()), dx(x.size(), 0.0f), dattn(attn.size(), 0.0f);
  block.forward(backend, arena, acts, scratch, flat(params), mat(x, rows, d), mat(attn, rows, H * hd),
                mat(out, rows, H * hd));
  const Tensor gate = block.gate(arena, acts, rows);
  run.ours["gate"] = FVec(gate.f32(), gate.f32() + gate.numel());
  block.backward(backend, arena, acts, scratch, flat(params), flat(grads), mat(x, rows, d), mat(attn, rows, H * hd),
                 mat(dx, rows, d), mat(dattn, rows, H * hd), mat(dout, rows, H * hd));
  run.ours["out"] = out;
  run.ours["grad.x"] = dx;
  run.ours["grad.attn"] = dattn;
  run.inputs["x"] = {{rows, d}, x};
  run.inputs["attn"] = {{rows, H * hd}, attn};
  run.inputs["dout"] = {{rows, H * hd}, dout};
  record_params(run, block.params(), params, grads);
  return run;
}

SafetensorsFile oracle(const Run& run, const test::TempDir& dir) {
  SafetensorsFile file;
  file.metadata = {{"block", run.kind}, {"config", run.config.dump()}};
  for (const auto& [name, value] : run.inputs) {
    const auto& [shape, data] = value;
    file.tensors.push_back(
        {name, "F32", shape, std::string(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float))});
  }
  write_safetensors(dir / "in.safetensors", file);
  const std::string command = "/usr/bin/python3 " + test::quoted(test::repo_root() / "scripts/reference/oracle.py") +
                              " block --float64 --inputs " + test::quoted(dir / "in.safetensors") + " --out " +
                              test::quoted(dir / "out.safetensors");
  const test::CommandResult r = test::run_command(command);
  EXPECT_EQ(r.exit_code, 0) << "oracle failed: " << command << "\n" << r.output;
  return read_safetensors(dir / "out.safetensors");
}

// max |ours − ref| ≤ rel · max |ref| + abs_floor, reporting the worst element.
void expect_close(const FVec& ours, const NamedTensorData* ref, double rel, double abs_floor, const std::string& what) {
  ASSERT_NE(ref, nullptr) << "oracle output lacks " << what;
  ASSERT_EQ(ref->bytes.size(), ours.size() * sizeof(float)) << what;
  FVec theirs(ours.size());
  std::memcpy(theirs.data(), ref->bytes.data(), ref->bytes.size());
  double scale = 0, worst = 0;
  size_t worst_i = 0;
  for (float v : theirs) scale = std::max(scale, std::fabs(static_cast<double>(v)));
  for (size_t i = 0; i < ours.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(ours[i]) - theirs[i]);
    if (diff > worst) worst = diff, worst_i = i;
  }
  EXPECT_GT(scale, 0.0) << what << " is all zero in the oracle: the comparison would prove nothing";
  EXPECT_LE(worst, rel * scale + abs_floor) << what << ": worst element " << worst_i << " ours " << ours[worst_i]
                                            << " oracle " << theirs[worst_i] << " (scale " << scale << ")";
}

void compare(const Run& run) {
  test::TempDir dir;
  const SafetensorsFile ref = oracle(run, dir);
  size_t grads_in_oracle = 0;
  for (const NamedTensorData& t : ref.tensors) grads_in_oracle += t.name.starts_with("grad.") ? 1 : 0;
  size_t grads_ours = 0;
  for (const auto& [name, values] : run.ours) {
    const bool grad = name.starts_with("grad.");
    grads_ours += grad ? 1 : 0;
    expect_close(values, ref.find(name), grad ? 1e-4 : 1e-5, 1e-7, name);
  }
  EXPECT_EQ(grads_ours, grads_in_oracle) << "every input and parameter gradient is compared";
}

struct OracleCase {
  const char* label;
  Run (*make)();
};

class BlockOracleTest : public ::testing::TestWithParam<OracleCase> {};

TEST_P(BlockOracleTest, OutputsAndGradientsMatchPyTorch) {
  if (!torch_available()) GTEST_SKIP() << "Debian's python3-torch is not installed (/usr/bin/python3 -c 'import torch')";
  compare(GetParam().make());
}

INSTANTIATE_TEST_SUITE_P(
    Blocks, BlockOracleTest,
    ::testing::Values(OracleCase{"tau_fusion_2_streams", [] { return run_tau_fusion(2, 0); }},
                      OracleCase{"tau_fusion_3_streams_latent", [] { return run_tau_fusion(3, 4); }},
                      OracleCase{"daam_plain", [] { return run_daam(4, 1, false); }},
                      OracleCase{"daam_mixture_residual", [] { return run_daam(3, 3, true); }},
                      OracleCase{"head_gate_identity_init", [] { return run_head_gate(true); }},
                      OracleCase{"head_gate_paper_init", [] { return run_head_gate(false); }}),
    [](const auto& info) { return std::string(info.param.label); });

}  // namespace
}  // namespace dg::blocks
