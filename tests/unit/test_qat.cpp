// QAT: the forward pass under QAT reads exactly the weights `eval --artifact` loads (same losses,
// bit for bit, on CPU), gradients pass straight through into the master grads, it starts where
// qat_start_fraction says, and the noisy variant stays within half a quantization step.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "artifact/artifact.h"
#include "quant/fake_quant.h"
#include "quant/fp16.h"
#include "artifact/model_artifact.h"
#include "core/error.h"
#include "model/model_factory.h"
#include "model_fixtures.h"
#include "train/qat.h"

namespace dg {
namespace {

// A gpt small enough for CPU whose embedding and MLP matrices exceed 65,536 values, so they take
// the per-row int8 path; attention matrices are fp16, gains and mixes fp32.
Config qat_config(const std::vector<std::string>& extra = {}) {
  std::vector<std::string> overrides = {"vocab_size=1100", "model_dim=64", "mlp_mult=17", "qat_scope=all"};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  return test::small_gpt_config(overrides);
}

constexpr int64_t kRows = 2, kSeq = 16;

struct Fixture {
  Config config;
  std::unique_ptr<Backend> backend = make_cpu_backend();
  std::unique_ptr<LanguageModel> model;
  std::vector<int32_t> inputs, targets;
  explicit Fixture(Config c) : config(std::move(c)) {
    model = make_model(config, *backend, kRows, kSeq);
    test::randomize_params(*model, *backend, 5, 0.2f);
    inputs = test::random_tokens(kRows * kSeq, config.get_int("vocab_size"), 8);
    targets = test::random_tokens(kRows * kSeq, config.get_int("vocab_size"), 9);
  }
  ModelBatch batch() const { return ModelBatch{inputs.data(), targets.data(), kRows, kSeq}; }
  std::vector<float> host(const Tensor& t) const {
    std::vector<float> out(static_cast<size_t>(t.numel()));
    backend->copy_to_host(out.data(), t);
    return out;
  }
};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), 4 * a.size()) == 0;
}

TEST(Qat, ForwardEqualsArtifactEvalExactly) {
  Fixture f(qat_config());
  Logger quiet;
  QuantAwareTraining qat(f.config, *f.backend, *f.model);
  ASSERT_TRUE(qat.enabled());
  const std::vector<float> master = f.host(f.model->params());
  ASSERT_TRUE(qat.prepare_step(*f.model, 0, 10, 0.0, 0.0, quiet));
  f.model->set_training(false);
  const double qat_loss = f.model->forward(f.batch());
  std::vector<float> qat_losses;
  f.model->token_losses(qat_losses);
  EXPECT_TRUE(same_bits(f.host(f.model->params()), master)) << "QAT must not touch the master weights";

  // What `dartgolf pack` writes and `dartgolf eval --artifact` loads.
  const artifact::PackedArtifact packed = artifact::pack_parameters(f.model->layout(), master.data(), f.config, {});
  const artifact::Artifact loaded = artifact::parse_artifact(packed.bytes, "qat.art");
  auto evaluated = make_model(artifact::artifact_config(loaded, "qat.art"), *f.backend, kRows, kSeq);
  artifact::load_artifact_weights(loaded, "qat.art", *evaluated, *f.backend);
  const double artifact_loss = evaluated->forward(f.batch());
  std::vector<float> artifact_losses;
  evaluated->token_losses(artifact_losses);
  EXPECT_EQ(std::memcmp(&qat_loss, &artifact_loss, sizeof(double)), 0) << qat_loss << " vs " << artifact_loss;
  EXPECT_TRUE(same_bits(qat_losses, artifact_losses));

  // The QAT weights are the artifact's weights, every tensor, bit for bit.
  std::vector<float> fake(master.size());
  fake_quantize_parameters(f.model->layout(), quant::QuantPolicy::from_config(f.config), master.data(), fake.data());
  const std::vector<float> loaded_params = f.host(evaluated->params());
  for (const ParamSpec& spec : f.model->layout().specs())
    EXPECT_EQ(std::memcmp(fake.data() + spec.offset, loaded_params.data() + spec.offset, 4 * spec.numel()), 0) << spec.name;

  // And they differ from the master weights (otherwise this test proves nothing).
  f.model->set_forward_weights(Tensor{});
  const double master_loss = f.model->forward(f.batch());
  EXPECT_NE(master_loss, qat_loss);
}

TEST(Qat, GradientsPassStraightThroughIntoTheMasterGrads) {
  Fixture f(qat_config());
  Logger quiet;
  QuantAwareTraining qat(f.config, *f.backend, *f.model);
  qat.prepare_step(*f.model, 0, 10, 0.0, 0.0, quiet);
  f.backend->fill(f.model->grads(), 0.0f);
  f.model->set_training(true);
  f.model->forward(f.batch());
  f.model->backward(1.0f);
  const std::vector<float> qat_grads = f.host(f.model->grads());

  // Reference: a plain model whose parameters ARE the fake-quantized weights.
  const std::vector<float> master = f.host(f.model->params());
  std::vector<float> fake(master.size());
  fake_quantize_parameters(f.model->layout(), quant::QuantPolicy::from_config(f.config), master.data(), fake.data());
  auto plain = make_model(f.config, *f.backend, kRows, kSeq);
  f.backend->copy_from_host(plain->params(), fake.data());
  f.backend->fill(plain->grads(), 0.0f);
  plain->set_training(true);
  plain->forward(f.batch());
  plain->backward(1.0f);
  EXPECT_TRUE(same_bits(qat_grads, f.host(plain->grads())));
  double norm = 0.0;
  for (float g : qat_grads) norm += static_cast<double>(g) * g;
  EXPECT_GT(norm, 0.0);
}

TEST(Qat, StartsAtTheConfiguredFractionOfStepsOrWallClock) {
  Fixture f(qat_config({"qat_start_fraction=0.5"}));
  QuantAwareTraining qat(f.config, *f.backend, *f.model);
  EXPECT_FALSE(qat.active_at(49, 100, 0.0, 0.0));
  EXPECT_TRUE(qat.active_at(50, 100, 0.0, 0.0));
  // With a wall-clock cap, whichever limit is nearer decides.
  EXPECT_TRUE(qat.active_at(10, 100, 600.0, 1000.0));
  EXPECT_FALSE(qat.active_at(10, 100, 400.0, 1000.0));

  Logger quiet;
  EXPECT_FALSE(qat.prepare_step(*f.model, 10, 100, 0.0, 0.0, quiet));
  const double master_loss = f.model->forward(f.batch());
  EXPECT_TRUE(qat.prepare_step(*f.model, 60, 100, 0.0, 0.0, quiet));
  EXPECT_NE(f.model->forward(f.batch()), master_loss);
  qat.release(*f.model);
  EXPECT_EQ(f.model->forward(f.batch()), master_loss);

  Fixture off(test::small_gpt_config());
  QuantAwareTraining none(off.config, *off.backend, *off.model);
  EXPECT_FALSE(none.enabled());
  EXPECT_FALSE(none.active_at(100, 100, 1e9, 1.0));
}

TEST(Qat, NoisyVariantAddsAtMostHalfAStepAroundTheClippedWeight) {
  Fixture f(qat_config({"qat_noise=true"}));
  const ParamSpec& spec = f.model->layout().find("tok_emb.weight");
  const std::vector<float> master = f.host(f.model->params());
  const float* w = master.data() + spec.offset;
  std::vector<float> noisy(static_cast<size_t>(spec.numel())), again(noisy.size()), rounded(noisy.size());
  Rng a(1), b(1);
  const quant::QuantPolicy policy = quant::QuantPolicy::from_config(f.config);
  quant::fake_quantize_tensor(spec.name, spec.shape, w, policy, noisy.data(), &a);
  quant::fake_quantize_tensor(spec.name, spec.shape, w, policy, again.data(), &b);
  quant::fake_quantize_tensor(spec.name, spec.shape, w, policy, rounded.data());
  EXPECT_TRUE(same_bits(noisy, again)) << "same seed, same noise";

  std::vector<int8_t> q(noisy.size());
  std::vector<uint16_t> scales(static_cast<size_t>(spec.rows()));
  quant::quantize_per_row(w, spec.rows(), spec.cols(), 8, q.data(), scales.data());
  double mean_offset = 0.0;
  int64_t differs = 0;
  std::vector<float> scratch;
  for (int64_t r = 0; r < spec.rows(); ++r) {
    const float scale = quant::half_bits_to_float(scales[static_cast<size_t>(r)]);
    const float clip = quant::clip_quantile_abs(w + r * spec.cols(), spec.cols(), scratch);
    for (int64_t c = 0; c < spec.cols(); ++c) {
      const size_t i = static_cast<size_t>(r * spec.cols() + c);
      const float clipped = std::max(std::min(w[i], clip), -clip);
      ASSERT_LE(std::fabs(noisy[i] - clipped), 0.5f * scale * 1.0001f) << "row " << r;
      ASSERT_LE(std::fabs(noisy[i]), 127.0f * scale * 1.0001f);
      mean_offset += (noisy[i] - clipped) / scale;
      differs += noisy[i] != rounded[i];
    }
  }
  EXPECT_NEAR(mean_offset / static_cast<double>(noisy.size()), 0.0, 0.01);  // unbiased
  EXPECT_GT(differs, static_cast<int64_t>(noisy.size()) / 2);  // not the rounding quantizer

  // Under noisy QAT the fp16 and fp32 tensors are still exactly the artifact's.
  std::vector<float> all(master.size()), plain(master.size());
  Rng c(3);
  fake_quantize_parameters(f.model->layout(), policy, master.data(), all.data(), &c);
  fake_quantize_parameters(f.model->layout(), policy, master.data(), plain.data());
  for (const ParamSpec& s : f.model->layout().specs()) {
    if (quant::choose_encoding(s.name, s.shape, policy) == quant::Encoding::IntPerRow) continue;
    EXPECT_EQ(std::memcmp(all.data() + s.offset, plain.data() + s.offset, 4 * s.numel()), 0) << s.name;
  }
}

TEST(Qat, BadSettingsAreClearErrors) {
  Fixture f(qat_config());
  auto message = [&](const std::string& assignment) {
    Config c = qat_config({assignment});
    try {
      QuantAwareTraining qat(c, *f.backend, *f.model);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message("qat_scope=some").find("qat_scope='some' is not valid"), std::string::npos);
  EXPECT_NE(message("qat_start_fraction=1.5").find("qat_start_fraction=1.5"), std::string::npos);
  EXPECT_NE(message("artifact_bits=12").find("artifact_bits=12"), std::string::npos);
}

}  // namespace
}  // namespace dg
