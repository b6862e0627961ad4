// dartgolf's gpt model against the independent PyTorch implementation in scripts/reference/
// (the llm.c test_gpt2 pattern): same weights and batch in, then compare the per-token losses,
// the capped logits, every parameter gradient, and the parameters after a few optimizer steps.
// The oracle computes in float64; dartgolf's CPU backend in float32, so tolerances are relative
// to each tensor's scale and sized for float32 rounding (≈1e-7 per op, accumulated over the graph).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "model/gpt_model.h"
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


struct OracleCase {
  std::vector<std::string> overrides;
  const char* label;
};

class OracleTest : public ::testing::TestWithParam<OracleCase> {};

TEST_P(OracleTest, LossLogitsAndGradientsMatchPyTorch) {
  if (!torch_available()) GTEST_SKIP() << "Debian's python3-torch is not installed (/usr/bin/python3 -c 'import torch')";
  const Config config = test::small_gpt_config(GetParam().overrides);
  const int64_t rows = 2, seq = 16, vocab = config.get_int("vocab_size");
  auto backend = make_cpu_backend();
  auto model = make_model(config, *backend, rows, seq);
  test::randomize_params(*model, *backend, 21);
  const auto x = test::random_tokens(rows * seq, vocab, 3), y = test::random_tokens(rows * seq, vocab, 4);

  test::TempDir dir;
  save_model_checkpoint(dir / "model.safetensors", *model, *backend, config, 0);
  write_batch(dir / "batch.safetensors", x, y, rows, seq);
  run_oracle("grads --float64 --checkpoint '" + (dir / "model.safetensors").string() + "' --batch '" +
             (dir / "batch.safetensors").string() + "' --out '" + (dir / "grads.safetensors").string() + "'");
  const SafetensorsFile ref = read_safetensors(dir / "grads.safetensors");

  backend->fill(model->grads(), 0.0f);
  const double loss = model->forward(ModelBatch{x.data(), y.data(), rows, seq});
  model->backward(1.0f);
  EXPECT_NEAR(loss, floats_of(ref, "loss")[0], 2e-6 * loss);
  std::vector<float> losses, logits;
  model->token_losses(losses);
  dynamic_cast<GptModel&>(*model).capped_logits(logits);
  expect_close(losses, floats_of(ref, "per_token_loss"), 2e-6, 1e-6, "per-token loss");
  expect_close(logits, floats_of(ref, "logits"), 2e-6, 1e-6, "capped logits");

  std::vector<float> grads(static_cast<size_t>(model->layout().buffer_elements()));
  backend->copy_to_host(grads.data(), model->grads());
  for (const ParamSpec& spec : model->layout().specs()) {
    const std::vector<float> ours(grads.begin() + spec.offset, grads.begin() + spec.offset + spec.numel());
    expect_close(ours, floats_of(ref, "grad." + spec.name), 1e-4, 1e-9, "gradient of " + spec.name);
  }
}

TEST_P(OracleTest, OptimizerStepsMatchPyTorch) {
  if (!torch_available()) GTEST_SKIP() << "Debian's python3-torch is not installed";
  const Config config = test::small_gpt_config(GetParam().overrides);
  const int64_t rows = 2, seq = 16, vocab = config.get_int("vocab_size"), steps = 3;
  auto backend = make_cpu_backend();
  auto model = make_model(config, *backend, rows, seq);
  test::randomize_params(*model, *backend, 31);
  const auto x = test::random_tokens(rows * seq, vocab, 5), y = test::random_tokens(rows * seq, vocab, 6);

  test::TempDir dir;
  save_model_checkpoint(dir / "model.safetensors", *model, *backend, config, 0);
  write_batch(dir / "batch.safetensors", x, y, rows, seq);
  run_oracle("steps --float64 --steps " + std::to_string(steps) + " --checkpoint '" +
             (dir / "model.safetensors").string() + "' --batch '" + (dir / "batch.safetensors").string() +
             "' --out '" + (dir / "after.safetensors").string() + "'");
  const SafetensorsFile ref = read_safetensors(dir / "after.safetensors");

  Optimizer optimizer(model->layout(), *backend, model->params(), model->grads(), OptimizerSettings::from_config(config));
  ScheduleSettings schedule;
  schedule.muon_momentum = config.get_double("muon_momentum");
  schedule.muon_momentum_warmup_start = config.get_double("muon_momentum_warmup_start");
  schedule.muon_momentum_warmup_steps = config.get_int("muon_momentum_warmup_steps");
  for (int64_t step = 0; step < steps; ++step) {
    backend->fill(model->grads(), 0.0f);
    const double loss = model->forward(ModelBatch{x.data(), y.data(), rows, seq});
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

INSTANTIATE_TEST_SUITE_P(
    Shapes, OracleTest,
    ::testing::Values(OracleCase{{}, "gqa_3_layers"},
                      OracleCase{{"num_layers=4", "num_kv_heads=4", "tie_embeddings=0"}, "mha_untied_4_layers"},
                      OracleCase{{"num_layers=5", "num_kv_heads=1", "mlp_mult=3", "vocab_size=37"}, "mqa_odd_vocab"}),
    [](const ::testing::TestParamInfo<OracleCase>& info) { return std::string(info.param.label); });

}  // namespace
}  // namespace dg
