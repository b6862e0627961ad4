#include "train/bench.h"

#include <chrono>

#include "backend/backend.h"
#include "core/error.h"
#include "core/rng.h"
#include "model/model_factory.h"
#include "train/optimizer.h"
#include "train/run_context.h"
#include "train/settings_checks.h"

namespace dg {

double training_flops_per_token(const ParamLayout& layout, const Config& config) {
  double matmul_weights = 0.0;
  for (const ParamSpec& spec : layout.specs()) {
    const bool is_head = spec.name == "lm_head.weight" || (spec.name == "tok_emb.weight" && config.get_bool("tie_embeddings"));
    if (spec.group == OptimGroup::Matrix || is_head) matmul_weights += static_cast<double>(spec.numel());
  }
  const double attention = 6.0 * static_cast<double>(config.get_int("num_layers")) *
                           static_cast<double>(config.get_int("train_seq_len")) *
                           static_cast<double>(config.get_int("model_dim"));
  return 6.0 * matmul_weights + attention;
}

BenchResult run_bench(const Config& config, int64_t warmup_steps, int64_t timed_steps) {
  DG_CHECK(timed_steps > 0, "bench: --steps " << timed_steps << " must be positive");
  DG_CHECK(warmup_steps >= 0, "bench: --warmup " << warmup_steps << " must be >= 0");
  check_run_settings(config);  // before any division by a setting
  model_layout(config);
  BenchResult result;
  result.threads = apply_thread_setting(config);
  const int64_t seq_len = config.get_int("train_seq_len");
  const int64_t accum = config.get_int("grad_accum_steps") > 0 ? config.get_int("grad_accum_steps") : 8;
  const int64_t batch_tokens = config.get_int("train_batch_tokens");
  DG_CHECK(batch_tokens % (accum * seq_len) == 0,
           "TRAIN_BATCH_TOKENS=" << batch_tokens << " must be a multiple of grad_accum_steps × TRAIN_SEQ_LEN");
  const int64_t rows = batch_tokens / accum / seq_len;

  std::unique_ptr<Backend> backend = backend_for_run(config, WorldInfo::from_environment(), nullptr);
  result.backend = backend->name();
  result.device = backend->description();
  std::unique_ptr<LanguageModel> model = make_model(config, *backend, rows, seq_len);
  std::vector<float> init(static_cast<size_t>(model->layout().buffer_elements()));
  model->layout().initialize(init.data(), static_cast<uint64_t>(config.get_int("seed")));
  backend->copy_from_host(model->params(), init.data());
  Optimizer optimizer(model->layout(), *backend, model->params(), model->grads(), OptimizerSettings::from_config(config));

  Rng rng(static_cast<uint64_t>(config.get_int("seed")));
  const int64_t vocab = config.get_int("vocab_size");
  std::vector<int32_t> inputs(static_cast<size_t>(rows * seq_len)), targets(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    inputs[i] = static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab)));
    targets[i] = static_cast<int32_t>(rng.below(static_cast<uint64_t>(vocab)));
  }
  auto one_step = [&]() {
    backend->fill(model->grads(), 0.0f);
    for (int64_t micro = 0; micro < accum; ++micro) {
      model->forward(ModelBatch{inputs.data(), targets.data(), rows, seq_len});
      model->backward(1.0f / static_cast<float>(accum));
    }
    optimizer.step(1.0, 0.95);
    backend->synchronize();
  };
  for (int64_t i = 0; i < warmup_steps; ++i) one_step();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < timed_steps; ++i) one_step();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  result.peak_memory_bytes = backend->peak_allocated_bytes();
  result.steps = timed_steps;
  result.tokens_per_step = batch_tokens;
  result.parameters = model->layout().parameter_count();
  result.tokens_per_second = static_cast<double>(timed_steps * batch_tokens) / result.seconds;
  result.ms_per_step = 1000.0 * result.seconds / static_cast<double>(timed_steps);
  result.flops_per_token = training_flops_per_token(model->layout(), config);
  result.gflops_per_second = result.flops_per_token * result.tokens_per_second / 1e9;
  return result;
}

}  // namespace dg
