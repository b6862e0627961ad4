// Small DART configurations for the model and oracle tests: every feature on unless a test says
// otherwise (memory rows, per-loop W_q deltas, the PR's W_q fake-quant, U-Net across loops, deep
// supervision), and the helpers those tests share.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/config.h"
#include "model/dart_model.h"
#include "model/model_factory.h"
#include "model/settings.h"
#include "model_fixtures.h"

namespace dg::test {

// vocab 64, d 32, 4 heads, 2 KV heads, MLP ×2, 4 loops of 1 block, 3 memory rows, rank-2 deltas,
// seq 16, plus any overrides ("key=value").
inline Config small_dart_config(const std::vector<std::string>& overrides = {}) {
  RunConfigSources sources;
  sources.preset = "pr345";
  sources.assignments = {"vocab_size=64",      "model_dim=32",  "num_heads=4",    "num_kv_heads=2",
                         "mlp_mult=2",         "num_loops=4",   "num_unique_blocks=1", "num_memory_tokens=3",
                         "delta_rank=2",       "train_seq_len=16"};
  for (const auto& o : overrides) sources.assignments.push_back(o);
  return resolve_run_config(sources);
}

// A small DART built through make_model with parameters perturbed away from their initial values
// (so zero-initialised projections, gains and mixes all carry signal), seq 16.
struct DartFixture {
  explicit DartFixture(const std::vector<std::string>& overrides, int64_t max_rows = 3, uint64_t seed = 11)
      : config(small_dart_config(overrides)), backend(make_cpu_backend()) {
    model = make_model(config, *backend, max_rows, 16);
    randomize_params(*model, *backend, seed);
  }
  DartModel& dart() { return dynamic_cast<DartModel&>(*model); }
  std::vector<float> losses(const std::vector<int32_t>& x, const std::vector<int32_t>& y, int64_t rows) {
    model->forward(ModelBatch{x.data(), y.data(), rows, 16});
    std::vector<float> out;
    model->token_losses(out);
    return out;
  }
  // grads() after zeroing them and running `repeats` forward + backward(scale) pairs.
  std::vector<float> gradient(const std::vector<int32_t>& x, const std::vector<int32_t>& y, int64_t rows, float scale,
                              int repeats) {
    backend->fill(model->grads(), 0.0f);
    for (int r = 0; r < repeats; ++r) {
      model->forward(ModelBatch{x.data(), y.data(), rows, 16});
      model->backward(scale);
    }
    std::vector<float> g(static_cast<size_t>(model->layout().buffer_elements()));
    backend->copy_to_host(g.data(), model->grads());
    return g;
  }
  std::vector<float> host_params() const {
    std::vector<float> p(static_cast<size_t>(model->layout().buffer_elements()));
    backend->copy_to_host(p.data(), model->params());
    return p;
  }
  void set_host_params(const std::vector<float>& p) { backend->copy_from_host(model->params(), p.data()); }

  Config config;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<LanguageModel> model;
};

// Causality over all M + T rows: editing input token t of row 1 (of 3) never changes the loss of any
// target before t, in any loop, nor anything in another row; and it does change target t's loss.
inline void expect_causal(const std::vector<std::string>& overrides) {
  SCOPED_TRACE(::testing::PrintToString(overrides));
  DartFixture f(overrides);
  auto& model = f.dart();
  model.set_training(false);
  const auto x = random_tokens(48, 64, 5), y = random_tokens(48, 64, 6);
  auto all_losses = [&](const std::vector<int32_t>& inputs) {
    model.forward(ModelBatch{inputs.data(), y.data(), 3, 16});
    std::vector<std::vector<float>> per_loop(static_cast<size_t>(model.loops_run()));
    for (int64_t l = 0; l < model.loops_run(); ++l) model.loop_token_losses(l, per_loop[static_cast<size_t>(l)]);
    return per_loop;
  };
  const auto base = all_losses(x);
  for (int64_t t : {0, 1, 7, 15}) {
    auto x2 = x;
    x2[static_cast<size_t>(16 + t)] = (x2[static_cast<size_t>(16 + t)] + 17) % 64;  // row 1, position t
    const auto changed = all_losses(x2);
    for (size_t l = 0; l < base.size(); ++l) {
      for (int64_t i = 0; i < 48; ++i) {
        const bool same_row_later = i >= 16 + t && i < 32;
        if (!same_row_later)
          ASSERT_EQ(changed[l][static_cast<size_t>(i)], base[l][static_cast<size_t>(i)])
              << "loop " << l << " position " << i << " changed after editing " << 16 + t;
      }
      EXPECT_NE(changed[l][static_cast<size_t>(16 + t)], base[l][static_cast<size_t>(16 + t)]) << "loop " << l;
    }
  }
}

}  // namespace dg::test
