// The baseline model: exactly train_gpt.py's parameters, and the properties every user relies on
// (causality, a sane initial loss, gradients that accumulate, results independent of batch size).
#include <gtest/gtest.h>

#include <cmath>

#include "model/gpt_model.h"
#include "model/model_factory.h"
#include "model_fixtures.h"

namespace dg {
namespace {

TEST(GptLayout, GptPresetMatchesTrainGptPy) {
  RunConfigSources sources;
  const Config config = resolve_run_config(sources);
  const ParamLayout layout = model_layout(config);
  // train_gpt.py prints model_params:17059912 for its default configuration.
  EXPECT_EQ(layout.parameter_count(), 17059912);
  EXPECT_EQ(layout.specs().size(), 2u + 9u * 10u);
  EXPECT_EQ(layout.find("tok_emb.weight").shape, (std::vector<int64_t>{1024, 512}));
  EXPECT_EQ(layout.find("skip_weights").shape, (std::vector<int64_t>{4, 512}));
  EXPECT_EQ(layout.find("blocks.8.attn.c_k.weight").shape, (std::vector<int64_t>{256, 512}));
  EXPECT_EQ(layout.find("blocks.0.resid_mix").shape, (std::vector<int64_t>{2, 512}));
  EXPECT_EQ(layout.find("blocks.3.attn.q_gain").shape, (std::vector<int64_t>{8}));
  EXPECT_EQ(layout.find("blocks.3.mlp.fc.weight").shape, (std::vector<int64_t>{1024, 512}));
  EXPECT_EQ(layout.find("blocks.3.mlp.proj.weight").shape, (std::vector<int64_t>{512, 1024}));
  EXPECT_THROW(layout.find("lm_head.weight"), Error);  // tied by default
  EXPECT_EQ(layout.find("blocks.0.attn.c_q.weight").group, OptimGroup::Matrix);
  EXPECT_EQ(layout.find("blocks.0.resid_mix").group, OptimGroup::Scalar);
  EXPECT_EQ(layout.find("skip_weights").group, OptimGroup::Scalar);
  EXPECT_EQ(layout.find("tok_emb.weight").group, OptimGroup::TokenEmbedding);
}

TEST(GptLayout, UntiedHeadAddsZeroInitialisedLmHead) {
  const ParamLayout layout = model_layout(test::small_gpt_config({"tie_embeddings=0"}));
  const ParamSpec& head = layout.find("lm_head.weight");
  EXPECT_EQ(head.shape, (std::vector<int64_t>{64, 32}));
  EXPECT_EQ(head.group, OptimGroup::Head);
}

TEST(GptLayout, InitialisationFollowsTrainGptPy) {
  const ParamLayout layout = model_layout(test::small_gpt_config());
  std::vector<float> p(static_cast<size_t>(layout.buffer_elements()));
  layout.initialize(p.data(), 1);
  auto values = [&](const std::string& name) {
    const ParamSpec& s = layout.find(name);
    return std::vector<float>(p.begin() + s.offset, p.begin() + s.offset + s.numel());
  };
  for (float v : values("blocks.0.attn.proj.weight")) ASSERT_EQ(v, 0.0f);
  for (float v : values("blocks.1.mlp.proj.weight")) ASSERT_EQ(v, 0.0f);
  for (float v : values("blocks.2.attn.q_gain")) ASSERT_EQ(v, 1.5f);
  const auto mix = values("blocks.0.resid_mix");
  for (size_t i = 0; i < 32; ++i) {
    ASSERT_EQ(mix[i], 1.0f);
    ASSERT_EQ(mix[32 + i], 0.0f);
  }
  const auto cq = values("blocks.0.attn.c_q.weight");
  const float bound = 1.0f / std::sqrt(32.0f);
  double sum_sq = 0;
  for (float v : cq) {
    ASSERT_LE(std::fabs(v), bound);
    sum_sq += v * v;
  }
  EXPECT_NEAR(std::sqrt(sum_sq / cq.size()), bound / std::sqrt(3.0f), 0.1 * bound);  // uniform's std
  const auto emb = values("tok_emb.weight");
  double emb_sq = 0;
  for (float v : emb) emb_sq += v * v;
  EXPECT_NEAR(std::sqrt(emb_sq / emb.size()), 0.005, 0.0005);
}

class GptModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_ = make_cpu_backend();
    config_ = std::make_unique<Config>(test::small_gpt_config());
    model_ = make_model(*config_, *backend_, /*max_rows=*/3, /*seq_len=*/16);
    test::randomize_params(*model_, *backend_, 11);
  }
  std::vector<float> losses_for(const std::vector<int32_t>& inputs, const std::vector<int32_t>& targets, int64_t rows) {
    model_->forward(ModelBatch{inputs.data(), targets.data(), rows, 16});
    std::vector<float> out;
    model_->token_losses(out);
    return out;
  }
  std::vector<float> gradient(const std::vector<int32_t>& inputs, const std::vector<int32_t>& targets, int64_t rows,
                              float scale, int repeats) {
    backend_->fill(model_->grads(), 0.0f);
    for (int r = 0; r < repeats; ++r) {
      model_->forward(ModelBatch{inputs.data(), targets.data(), rows, 16});
      model_->backward(scale);
    }
    std::vector<float> g(static_cast<size_t>(model_->layout().buffer_elements()));
    backend_->copy_to_host(g.data(), model_->grads());
    return g;
  }
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Config> config_;
  std::unique_ptr<LanguageModel> model_;
};

TEST_F(GptModelTest, InitialLossIsNearLogVocab) {
  auto model = make_model(*config_, *backend_, 2, 16);
  std::vector<float> host(static_cast<size_t>(model->layout().buffer_elements()));
  model->layout().initialize(host.data(), 3);
  backend_->copy_from_host(model->params(), host.data());
  const auto x = test::random_tokens(32, 64, 1), y = test::random_tokens(32, 64, 2);
  const double loss = model->forward(ModelBatch{x.data(), y.data(), 2, 16});
  EXPECT_NEAR(loss, std::log(64.0), 0.02);  // tiny tied embedding, zero projections: near-uniform logits
}

TEST_F(GptModelTest, ChangingATokenNeverChangesEarlierLosses) {
  const auto x = test::random_tokens(48, 64, 5), y = test::random_tokens(48, 64, 6);
  const auto base = losses_for(x, y, 3);
  for (int64_t t : {0, 1, 7, 15}) {
    auto x2 = x;
    x2[static_cast<size_t>(16 + t)] = (x2[static_cast<size_t>(16 + t)] + 17) % 64;  // row 1, position t
    const auto changed = losses_for(x2, y, 3);
    for (int64_t i = 0; i < 48; ++i) {
      const bool same_row_later = i >= 16 + t && i < 32;
      if (!same_row_later) ASSERT_EQ(changed[i], base[i]) << "position " << i << " changed after editing " << 16 + t;
    }
    EXPECT_NE(changed[static_cast<size_t>(16 + t)], base[static_cast<size_t>(16 + t)]);
  }
}

TEST_F(GptModelTest, LossesDoNotDependOnBatchComposition) {
  const auto x = test::random_tokens(48, 64, 7), y = test::random_tokens(48, 64, 8);
  const auto all = losses_for(x, y, 3);
  const std::vector<int32_t> x1(x.begin(), x.begin() + 16), y1(y.begin(), y.begin() + 16);
  const auto first = losses_for(x1, y1, 1);
  for (size_t i = 0; i < 16; ++i) EXPECT_NEAR(first[i], all[i], 1e-5f) << i;
}

TEST_F(GptModelTest, BackwardAccumulatesAndScales) {
  const auto x = test::random_tokens(32, 64, 9), y = test::random_tokens(32, 64, 10);
  const auto once = gradient(x, y, 2, 1.0f, 1);
  const auto twice_half = gradient(x, y, 2, 0.5f, 2);
  double max_g = 0;
  for (float g : once) max_g = std::max(max_g, static_cast<double>(std::fabs(g)));
  ASSERT_GT(max_g, 0.0);
  for (size_t i = 0; i < once.size(); ++i) ASSERT_NEAR(twice_half[i], once[i], 1e-5 * max_g) << i;
}

// Data-parallel training averages each block's gradient while backward computes the blocks below
// (train/gradient_reducer.h): what backward reports as final must never change afterwards, and the
// reports are the blocks' own tensors, last block first, each once.
TEST_F(GptModelTest, BackwardReportsEachBlockWhenItsGradientIsFinal) {
  const auto x = test::random_tokens(32, 64, 14), y = test::random_tokens(32, 64, 15);
  const ParamLayout& layout = model_->layout();
  backend_->fill(model_->grads(), 0.0f);
  model_->forward(ModelBatch{x.data(), y.data(), 2, 16});
  model_->backward(1.0f);  // an earlier micro-batch: reports are only wanted on the last one
  struct Report {
    int64_t begin, end;
    std::vector<float> values;
  };
  std::vector<Report> reports;
  model_->report_final_gradients([&](int64_t begin, int64_t end) {
    Report r{begin, end, std::vector<float>(static_cast<size_t>(end - begin))};
    backend_->copy_to_host(r.values.data(), model_->grads().slice(begin, end));
    reports.push_back(std::move(r));
  });
  model_->forward(ModelBatch{x.data(), y.data(), 2, 16});
  model_->backward(1.0f);
  model_->report_final_gradients(nullptr);
  std::vector<float> final_grads(static_cast<size_t>(layout.buffer_elements()));
  backend_->copy_to_host(final_grads.data(), model_->grads());

  const int64_t layers = config_->get_int("num_layers");
  ASSERT_EQ(static_cast<int64_t>(reports.size()), layers);
  for (int64_t i = 0; i < layers; ++i) {
    const Report& r = reports[static_cast<size_t>(i)];
    const std::string block = "blocks." + std::to_string(layers - 1 - i) + ".";
    for (const ParamSpec& spec : layout.specs()) {
      const bool inside = spec.offset >= r.begin && spec.offset + spec.numel() <= r.end;
      EXPECT_EQ(inside, spec.name.rfind(block, 0) == 0) << spec.name << " in report " << i;
    }
    bool any_nonzero = false;
    for (int64_t k = r.begin; k < r.end; ++k) {
      ASSERT_EQ(r.values[static_cast<size_t>(k - r.begin)], final_grads[static_cast<size_t>(k)])
          << "element " << k << " changed after " << block << " was reported final";
      any_nonzero |= final_grads[static_cast<size_t>(k)] != 0.0f;
    }
    EXPECT_TRUE(any_nonzero) << block;
  }
}

// A coarse end-to-end finite-difference check in float32 (the tight check is the float64 oracle):
// the directional derivative along a random direction matches the analytic gradient.
TEST_F(GptModelTest, DirectionalDerivativeMatchesFiniteDifference) {
  const auto x = test::random_tokens(32, 64, 12), y = test::random_tokens(32, 64, 13);
  const auto g = gradient(x, y, 2, 1.0f, 1);
  const int64_t n = model_->layout().buffer_elements();
  std::vector<float> p0(static_cast<size_t>(n)), dir(static_cast<size_t>(n), 0.0f);
  backend_->copy_to_host(p0.data(), model_->params());
  Rng rng(99);
  for (const ParamSpec& spec : model_->layout().specs())
    for (int64_t i = 0; i < spec.numel(); ++i) dir[static_cast<size_t>(spec.offset + i)] = static_cast<float>(rng.normal());
  double analytic = 0;
  for (int64_t i = 0; i < n; ++i) analytic += static_cast<double>(g[i]) * dir[i];
  const float h = 1e-3f;
  auto loss_at = [&](float step) {
    std::vector<float> p = p0;
    for (int64_t i = 0; i < n; ++i) p[i] += step * dir[i];
    backend_->copy_from_host(model_->params(), p.data());
    return model_->forward(ModelBatch{x.data(), y.data(), 2, 16});
  };
  const double numeric = (loss_at(h) - loss_at(-h)) / (2.0 * h);
  EXPECT_NEAR(numeric, analytic, 2e-2 * std::fabs(analytic) + 1e-3);
}

// QAT's straight-through estimator: with forward weights W' the loss and the gradient are those of
// a model whose parameters are W', and the gradient lands in the master gradient buffer.
TEST_F(GptModelTest, ForwardWeightsAreUsedAndGradientsPassStraightThrough) {
  const auto x = test::random_tokens(32, 64, 14), y = test::random_tokens(32, 64, 15);
  const int64_t n = model_->layout().buffer_elements();
  std::vector<float> master(static_cast<size_t>(n)), other(static_cast<size_t>(n));
  backend_->copy_to_host(master.data(), model_->params());
  Rng rng(5);
  for (int64_t i = 0; i < n; ++i) other[i] = master[i] + static_cast<float>(rng.normal(0.0, 0.01));

  // Reference: parameters set to W'.
  backend_->copy_from_host(model_->params(), other.data());
  const auto g_ref = gradient(x, y, 2, 1.0f, 1);
  const double loss_ref = model_->forward(ModelBatch{x.data(), y.data(), 2, 16});

  // Same model, master weights restored, forward reading W' from a separate buffer.
  backend_->copy_from_host(model_->params(), master.data());
  void* memory = backend_->allocate(n * 4);
  const Tensor copy(memory, DType::F32, backend_->device(), {n});
  backend_->copy_from_host(copy, other.data());
  model_->set_forward_weights(copy);
  const auto g = gradient(x, y, 2, 1.0f, 1);
  EXPECT_EQ(model_->forward(ModelBatch{x.data(), y.data(), 2, 16}), loss_ref);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(g[i], g_ref[i]) << i;
  std::vector<float> after(static_cast<size_t>(n));
  backend_->copy_to_host(after.data(), model_->params());
  EXPECT_EQ(after, master);  // the master weights are untouched
  model_->set_forward_weights(Tensor());
  EXPECT_NE(model_->forward(ModelBatch{x.data(), y.data(), 2, 16}), loss_ref);
  backend_->release(memory);
}

TEST(GptShapeErrors, NamesTheSettingsThatDoNotDivide) {
  auto message = [](std::vector<std::string> overrides) {
    try {
      GptShape::from_config(test::small_gpt_config(overrides));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({"num_heads=3"}).find("model_dim=32 must be divisible by num_heads=3"), std::string::npos);
  EXPECT_NE(message({"num_kv_heads=3"}).find("num_heads=4 must be divisible by num_kv_heads=3"), std::string::npos);
  EXPECT_NE(message({"model_dim=12", "num_heads=4", "num_kv_heads=4"}).find("must be even for RoPE"), std::string::npos);
  EXPECT_NE(message({"vocab_size=70000"}).find("vocab_size=70000"), std::string::npos);
}

}  // namespace
}  // namespace dg
