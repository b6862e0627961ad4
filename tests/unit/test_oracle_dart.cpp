// dartgolf's DART against the independent PyTorch implementation (scripts/reference/dart_reference.py,
// driven by oracle.py): same weights and batch in, then compare the deep-supervision training
// loss, every loop's per-token losses, the scored loss, the last loop's capped logits, every
// parameter gradient, and the parameters after a few optimizer steps with the PR's grouping.
// The oracle computes in float64, dartgolf in float32; tolerances as test_oracle_gpt.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "dart_fixtures.h"
#include "model/dart_model.h"
#include "model/model_factory.h"
#include "model_fixtures.h"
#include "oracle_support.h"
#include "test_support.h"
#include "train/model_io.h"
#include "train/optimizer.h"
#include "train/safetensors.h"
#include "train/schedule.h"

namespace dg {
namespace {
using test::expect_close;
using test::floats_of;
using test::run_oracle;
using test::torch_available;
using test::write_batch;

// The oracle learns DART from dart_reference.py; skip visibly while a checkout lacks it.
bool oracle_knows_dart() {
  static const bool ok = std::filesystem::exists(test::repo_root() / "scripts/reference/dart_reference.py") &&
                         test::read_text(test::repo_root() / "scripts/reference/oracle.py").find("dart") != std::string::npos;
  return ok;
}


constexpr const char* kTauLoopInput = R"({"type":"tau_fusion","site":"loop_input","hidden":8})";
constexpr const char* kTauLoopOutput = R"({"type":"tau_fusion","site":"loop_output","hidden":6})";

std::string blocks_setting(std::initializer_list<const char*> entries) {
  std::string out = "blocks=[";
  for (const char* e : entries) out += std::string(out.back() == '[' ? "" : ",") + e;
  return out + "]";
}

struct OracleCase {
  std::vector<std::string> overrides;
  int64_t loops;  // loops to run (loop dropout's draw); 0: all
  const char* label;
};

class DartOracleTest : public ::testing::TestWithParam<OracleCase> {
 protected:
  void SetUp() override {
    if (!torch_available()) GTEST_SKIP() << "Debian's python3-torch is not installed (/usr/bin/python3 -c 'import torch')";
    if (!oracle_knows_dart()) GTEST_SKIP() << "scripts/reference/oracle.py has no DART support in this checkout";
  }
  std::string loops_flag() const {
    return GetParam().loops > 0 ? " --loops " + std::to_string(GetParam().loops) : std::string();
  }
};

TEST_P(DartOracleTest, LossesLogitsAndGradientsMatchPyTorch) {
  const Config config = test::small_dart_config(GetParam().overrides);
  const int64_t rows = 2, seq = 16, vocab = config.get_int("vocab_size");
  auto backend = make_cpu_backend();
  auto model = make_model(config, *backend, rows, seq);
  auto& dart = dynamic_cast<DartModel&>(*model);
  test::randomize_params(*model, *backend, 21);
  const auto x = test::random_tokens(rows * seq, vocab, 3), y = test::random_tokens(rows * seq, vocab, 4);

  test::TempDir dir;
  save_model_checkpoint(dir / "model.safetensors", *model, *backend, config, 0);
  write_batch(dir / "batch.safetensors", x, y, rows, seq);
  run_oracle("grads --float64" + loops_flag() + " --checkpoint " + test::quoted(dir / "model.safetensors") +
             " --batch " + test::quoted(dir / "batch.safetensors") + " --out " + test::quoted(dir / "grads.safetensors"));
  const SafetensorsFile ref = read_safetensors(dir / "grads.safetensors");

  const int64_t loops = GetParam().loops > 0 ? GetParam().loops : dart.shape().num_loops;
  const ModelBatch batch{x.data(), y.data(), rows, seq};
  model->set_training(false);
  const double scored = dart.forward_loops(batch, loops);
  EXPECT_NEAR(scored, floats_of(ref, "eval_loss")[0], 2e-6 * scored) << "scored loss (" << config.get_string("eval_loss") << ")";
  model->set_training(true);
  backend->fill(model->grads(), 0.0f);
  const double loss = dart.forward_loops(batch, loops);
  model->backward(1.0f);
  EXPECT_NEAR(loss, floats_of(ref, "loss")[0], 2e-6 * loss) << "deep-supervision training loss";
  for (int64_t l = 0; l < loops; ++l) {
    std::vector<float> losses;
    dart.loop_token_losses(l, losses);
    expect_close(losses, floats_of(ref, "per_token_loss_loop" + std::to_string(l)), 2e-6, 1e-6,
                 "per-token loss after loop " + std::to_string(l));
  }
  std::vector<float> logits;
  dart.capped_logits(logits);
  expect_close(logits, floats_of(ref, "logits"), 2e-6, 1e-6, "last loop's capped logits");

  std::vector<float> grads(static_cast<size_t>(model->layout().buffer_elements()));
  backend->copy_to_host(grads.data(), model->grads());
  for (const ParamSpec& spec : model->layout().specs()) {
    const std::vector<float> ours(grads.begin() + spec.offset, grads.begin() + spec.offset + spec.numel());
    expect_close(ours, floats_of(ref, "grad." + spec.name), 1e-4, 1e-9, "gradient of " + spec.name);
  }
}

TEST_P(DartOracleTest, OptimizerStepsMatchPyTorch) {
  const Config config = test::small_dart_config(GetParam().overrides);
  const int64_t rows = 2, seq = 16, vocab = config.get_int("vocab_size"), steps = 3;
  auto backend = make_cpu_backend();
  auto model = make_model(config, *backend, rows, seq);
  auto& dart = dynamic_cast<DartModel&>(*model);
  test::randomize_params(*model, *backend, 31);
  const auto x = test::random_tokens(rows * seq, vocab, 5), y = test::random_tokens(rows * seq, vocab, 6);

  test::TempDir dir;
  save_model_checkpoint(dir / "model.safetensors", *model, *backend, config, 0);
  write_batch(dir / "batch.safetensors", x, y, rows, seq);
  run_oracle("steps --float64 --steps " + std::to_string(steps) + loops_flag() + " --checkpoint " +
             test::quoted(dir / "model.safetensors") + " --batch " + test::quoted(dir / "batch.safetensors") +
             " --out " + test::quoted(dir / "after.safetensors"));
  const SafetensorsFile ref = read_safetensors(dir / "after.safetensors");

  Optimizer optimizer(model->layout(), *backend, model->params(), model->grads(), OptimizerSettings::from_config(config));
  ScheduleSettings schedule;
  schedule.muon_momentum = config.get_double("muon_momentum");
  schedule.muon_momentum_warmup_start = config.get_double("muon_momentum_warmup_start");
  schedule.muon_momentum_warmup_steps = config.get_int("muon_momentum_warmup_steps");
  const int64_t loops = GetParam().loops > 0 ? GetParam().loops : dart.shape().num_loops;
  model->set_training(true);
  for (int64_t step = 0; step < steps; ++step) {
    backend->fill(model->grads(), 0.0f);
    const double loss = dart.forward_loops(ModelBatch{x.data(), y.data(), rows, seq}, loops);
    EXPECT_NEAR(loss, floats_of(ref, "loss." + std::to_string(step))[0], 1e-5 * loss) << "loss at step " << step;
    model->backward(1.0f);
    optimizer.step(1.0, muon_momentum_at(schedule, step));
  }
  std::vector<float> params(static_cast<size_t>(model->layout().buffer_elements()));
  backend->copy_to_host(params.data(), model->params());
  for (const ParamSpec& spec : model->layout().specs()) {
    const std::vector<float> ours(params.begin() + spec.offset, params.begin() + spec.offset + spec.numel());
    expect_close(ours, floats_of(ref, spec.name), 1e-4, 1e-6, "parameter " + spec.name + " after steps");
  }
}

std::vector<OracleCase> oracle_cases() {
  return {
        // Every feature on: memory rows, rank-2 W_q deltas, the PR's W_q fake-quant, U-Net across 4
        // loops, deep supervision γ = 0.9, the PR's differential attention.
        OracleCase{{}, 0, "every_feature_pr_diff"},
        OracleCase{{"attention=diff_v2", "num_loops=3", "eval_loss=deep_supervision"}, 0, "diff_v2_deep_supervision_score"},
        OracleCase{{"num_unique_blocks=2", "num_loops=2", "num_kv_heads=1"}, 0, "two_blocks_two_loops"},
        // Loop dropout's draw: 3 of 5 loops (skips and loss weights of a 3-loop model).
        OracleCase{{"num_loops=5", "loop_dropout=1", "deep_sup_gamma=0.5"}, 3, "three_of_five_loops"},
        OracleCase{{"num_memory_tokens=0", "delta_rank=0", "qat_wq=0", "deep_sup_gamma=0"}, 0, "every_feature_off"},
        // Pluggable blocks (docs/blocks.md): every type at every site, in the PR's model.
        OracleCase{{blocks_setting({kTauLoopInput, R"({"type":"head_gate","site":"attn_output"})",
                                    R"({"type":"daam","site":"attn_output","groups":2})",
                                    R"({"type":"daam","site":"mlp_input","gaussians":2,"residual":true})",
                                    R"({"type":"daam","site":"block_output","residual":true})", kTauLoopOutput})},
                   0, "every_block_every_site"},
        // DAAM before the paper-init head gate, a latent τ without the skip stream, DIFF V2, and
        // loop dropout's draw of 3 of 5 loops (loop_output repeats the last loop's output).
        OracleCase{{"attention=diff_v2", "num_loops=5", "loop_dropout=1",
                    blocks_setting({R"({"type":"daam","site":"attn_output","groups":4})",
                                    R"({"type":"head_gate","site":"attn_output","identity_init":false})",
                                    R"({"type":"tau_fusion","site":"loop_input","hidden":4,"latent":8,"skip_stream":false})",
                                    kTauLoopOutput})},
                   3, "blocks_diff_v2_three_of_five_loops"},
        OracleCase{{"num_unique_blocks=2", "num_loops=3", "num_kv_heads=1",
                    blocks_setting({kTauLoopInput, R"({"type":"daam","site":"mlp_input"})"})},
                   0, "blocks_two_unique_blocks"},
  };
}

INSTANTIATE_TEST_SUITE_P(
    Features, DartOracleTest, ::testing::ValuesIn(oracle_cases()),
    [](const ::testing::TestParamInfo<OracleCase>& info) { return std::string(info.param.label); });

}  // namespace
}  // namespace dg
