// GPTQ (src/quant/gptq.*): against an independent NumPy implementation of the same algorithm
// (scripts/reference/gptq_reference.py: same damping, order and blocks), its reconstruction error
// against round-to-nearest's on the same scales, dead inputs, bad input, the SDClip rule, and the
// Hessians the calibration collects from a model's forward pass.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"
#include "core/rng.h"
#include "model/model_factory.h"
#include "model_fixtures.h"
#include "oracle_support.h"
#include "quant/fp16.h"
#include "quant/gptq.h"
#include "quant/quantizer.h"
#include "shard_fixtures.h"
#include "test_support.h"
#include "train/gptq_calibration.h"

namespace dg::quant {
namespace {

// A layer's calibration: n inputs of `cols` correlated features (a shared low-rank part plus noise,
// like real activations), W random, and H = XᵀX.
struct Layer {
  int64_t rows = 0, cols = 0;
  std::vector<float> w;
  std::vector<double> h;
};

Layer random_layer(int64_t rows, int64_t cols, int64_t n, uint64_t seed) {
  Rng rng(seed);
  Layer l{rows, cols, std::vector<float>(static_cast<size_t>(rows * cols)), std::vector<double>(static_cast<size_t>(cols * cols))};
  for (float& v : l.w) v = static_cast<float>(rng.normal(0.0, 0.05));
  const int64_t rank = 4;
  std::vector<double> mix(static_cast<size_t>(rank * cols));
  for (double& v : mix) v = rng.normal(0.0, 1.0);
  std::vector<double> x(static_cast<size_t>(cols));
  for (int64_t s = 0; s < n; ++s) {
    double z[rank];
    for (double& v : z) v = rng.normal(0.0, 1.0);
    for (int64_t c = 0; c < cols; ++c) {
      double v = 0.3 * rng.normal(0.0, 1.0) * (1.0 + static_cast<double>(c % 5));  // uneven feature scales
      for (int64_t k = 0; k < rank; ++k) v += z[k] * mix[static_cast<size_t>(k * cols + c)];
      x[static_cast<size_t>(c)] = v;
    }
    for (int64_t i = 0; i < cols; ++i)
      for (int64_t j = 0; j < cols; ++j) l.h[static_cast<size_t>(i * cols + j)] += x[static_cast<size_t>(i)] * x[static_cast<size_t>(j)];
  }
  return l;
}

std::vector<float> stored_scales(const Layer& l, int bits, const ClipSpec& clip) {
  std::vector<float> scales(static_cast<size_t>(l.rows));
  std::vector<float> scratch;
  for (int64_t r = 0; r < l.rows; ++r)
    scales[static_cast<size_t>(r)] = half_bits_to_float(row_scale(l.w.data() + r * l.cols, l.cols, (1 << (bits - 1)) - 1, clip, scratch).stored_fp16);
  return scales;
}

double hessian_error(const Layer& l, const std::vector<int8_t>& q, const std::vector<float>& scales) {
  return quant::hessian_error(l.w.data(), l.rows, l.cols, l.h.data(), q.data(), scales.data());
}

std::vector<int8_t> rtn(const Layer& l, const std::vector<float>& scales, int bits) {
  const double qmax = (1 << (bits - 1)) - 1;
  std::vector<int8_t> q(l.w.size());
  for (int64_t r = 0; r < l.rows; ++r)
    for (int64_t c = 0; c < l.cols; ++c)
      q[static_cast<size_t>(r * l.cols + c)] = static_cast<int8_t>(
          std::clamp(std::nearbyint(static_cast<double>(l.w[static_cast<size_t>(r * l.cols + c)]) / scales[static_cast<size_t>(r)]), -qmax, qmax));
  return q;
}

template <class T>
void write_raw(const std::filesystem::path& path, const std::vector<T>& v) {
  write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T)));
}

struct Case {
  int bits;
  int64_t block;
  bool act_order;
  bool dead_column;
};

TEST(GptqVsNumpy, SameIntsAsTheIndependentReference) {
  if (!test::torch_available()) GTEST_SKIP() << "needs Debian's python3-numpy (/usr/bin/python3)";
  for (const Case& k : {Case{6, 16, true, false}, Case{4, 32, false, true}, Case{8, 128, true, true}, Case{2, 7, true, false}}) {
    SCOPED_TRACE("bits " + std::to_string(k.bits) + " block " + std::to_string(k.block));
    Layer l = random_layer(24, 72, 400, 11 + static_cast<uint64_t>(k.bits));
    if (k.dead_column) {
      for (int64_t i = 0; i < l.cols; ++i) l.h[static_cast<size_t>(5 * l.cols + i)] = l.h[static_cast<size_t>(i * l.cols + 5)] = 0.0;
    }
    const std::vector<float> scales = stored_scales(l, k.bits, ClipSpec{ClipRule::SdClip, 4.0});
    GptqOptions options;
    options.block_size = k.block;
    options.act_order = k.act_order;
    std::vector<int8_t> ours(l.w.size());
    const GptqReport report = gptq_quantize(l.w.data(), l.rows, l.cols, l.h.data(), scales.data(), (1 << (k.bits - 1)) - 1, options, ours.data());
    EXPECT_EQ(report.dead_columns, k.dead_column ? 1 : 0);
    EXPECT_EQ(report.damping, 0.01);

    test::TempDir dir;
    write_raw(dir / "w.f32", l.w);
    write_raw(dir / "h.f64", l.h);
    write_raw(dir / "scales.f32", scales);
    const auto r = test::run_command("/usr/bin/python3 " + test::quoted(test::repo_root() / "scripts/reference/gptq_reference.py") +
                                     " --dir " + test::quoted(dir.path()) + " --rows 24 --cols 72 --qmax " +
                                     std::to_string((1 << (k.bits - 1)) - 1) + " --damping 0.01 --block " +
                                     std::to_string(k.block) + " --act-order " + (k.act_order ? "1" : "0"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::string theirs_bytes = read_file_bytes(dir / "q.i8");
    ASSERT_EQ(theirs_bytes.size(), ours.size());
    int64_t differ = 0;
    for (size_t i = 0; i < ours.size(); ++i) differ += ours[i] != static_cast<int8_t>(theirs_bytes[i]);
    EXPECT_EQ(differ, 0) << "of " << ours.size() << " ints";
    const auto meta = nlohmann::json::parse(read_file_bytes(dir / "meta.json"));
    EXPECT_EQ(meta["dead_columns"].get<int>(), k.dead_column ? 1 : 0);
    if (!k.dead_column) EXPECT_NEAR(hessian_error(l, ours, scales) / meta["hessian_error"].get<double>(), 1.0, 1e-9);
  }
}

TEST(Gptq, ReconstructionErrorIsBelowRoundToNearestOnRandomWeights) {
  for (int bits : {8, 6, 5, 4, 3}) {
    const Layer l = random_layer(64, 96, 500, 100 + static_cast<uint64_t>(bits));
    for (const ClipSpec& clip : {ClipSpec{}, ClipSpec{ClipRule::SdClip, 12.85}, ClipSpec{ClipRule::SdClip, 3.0}}) {
      const std::vector<float> scales = stored_scales(l, bits, clip);
      std::vector<int8_t> q(l.w.size());
      gptq_quantize(l.w.data(), l.rows, l.cols, l.h.data(), scales.data(), (1 << (bits - 1)) - 1, GptqOptions{}, q.data());
      const double g = hessian_error(l, q, scales), n = hessian_error(l, rtn(l, scales, bits), scales);
      EXPECT_LT(g, n) << "bits " << bits << " clip " << clip_rule_name(clip.rule) << " k " << clip.sdclip_k;
      if (clip.rule == ClipRule::SdClip && clip.sdclip_k == 3.0 && bits <= 5) EXPECT_LT(g, 0.8 * n) << bits;
    }
  }
}

TEST(Gptq, DeadInputsAreZeroedAndBadInputIsRefused) {
  Layer l = random_layer(4, 6, 50, 3);
  for (int64_t i = 0; i < l.cols; ++i) l.h[static_cast<size_t>(2 * l.cols + i)] = l.h[static_cast<size_t>(i * l.cols + 2)] = 0.0;
  const std::vector<float> scales(4, 0.01f);
  std::vector<int8_t> q(l.w.size());
  EXPECT_EQ(gptq_quantize(l.w.data(), 4, 6, l.h.data(), scales.data(), 31, GptqOptions{}, q.data()).dead_columns, 1);
  for (int64_t r = 0; r < 4; ++r) EXPECT_EQ(q[static_cast<size_t>(r * 6 + 2)], 0);
  const std::vector<float> zero_scale{0.01f, 0.0f, 0.01f, 0.01f};
  EXPECT_THROW(gptq_quantize(l.w.data(), 4, 6, l.h.data(), zero_scale.data(), 31, GptqOptions{}, q.data()), Error);
  GptqOptions bad;
  bad.damping = 2.0;
  EXPECT_THROW(gptq_quantize(l.w.data(), 4, 6, l.h.data(), scales.data(), 31, bad, q.data()), Error);
  // An all-zero Hessian (no calibration input at all) is still quantized: every column is dead.
  const std::vector<double> none(36, 0.0);
  EXPECT_EQ(gptq_quantize(l.w.data(), 4, 6, none.data(), scales.data(), 31, GptqOptions{}, q.data()).dead_columns, 6);
}

TEST(Gptq, AnIndefiniteHessianGetsMoreDampingAndSaysSo) {
  // diag 1, off-diagonal 2: indefinite; 0.01 and 0.1 of mean(diag) are not enough, 1.0 is.
  const std::vector<double> h{1, 2, 2, 1};
  const std::vector<float> w{0.3f, -0.2f}, scales{0.01f};
  std::vector<int8_t> q(2);
  EXPECT_EQ(gptq_quantize(w.data(), 1, 2, h.data(), scales.data(), 127, GptqOptions{}, q.data()).damping, 1.0);
  const std::vector<double> hopeless{1, 5, 5, 1};
  EXPECT_THROW(gptq_quantize(w.data(), 1, 2, hopeless.data(), scales.data(), 127, GptqOptions{}, q.data()), Error);
}

TEST(SdClip, ScaleIsKTimesTheRowStdOverQmaxInFp16) {
  const std::vector<float> row{1.0f, -1.0f, 3.0f, -3.0f};  // mean 0, sample std sqrt(20/3)
  std::vector<float> scratch;
  const RowScale s = row_scale(row.data(), 4, 31, ClipSpec{ClipRule::SdClip, 12.0}, scratch);
  EXPECT_EQ(s.stored_fp16, float_to_half_bits(static_cast<float>(12.0 * std::sqrt(20.0 / 3.0) / 31.0)));
  EXPECT_EQ(s.round_scale, half_bits_to_float(s.stored_fp16));
  EXPECT_TRUE(std::isinf(s.clip));
  // Values beyond k standard deviations clip at ±qmax.
  std::vector<int8_t> q(4);
  uint16_t scale = 0;
  const std::vector<float> outlier{0.0f, 0.0f, 0.0f, 100.0f};
  quantize_per_row(outlier.data(), 1, 4, 6, ClipSpec{ClipRule::SdClip, 0.5}, q.data(), &scale);
  EXPECT_EQ(q[3], 31);
  // Constant and zero rows do not divide by zero.
  const std::vector<float> constant(4, 0.25f), zeros(4, 0.0f);
  quantize_per_row(constant.data(), 1, 4, 6, ClipSpec{ClipRule::SdClip, 12.0}, q.data(), &scale);
  EXPECT_NEAR(q[0] * half_bits_to_float(scale), 0.25f, 0.25f / 1000);  // max|w| / qmax, within fp16
  quantize_per_row(zeros.data(), 1, 4, 6, ClipSpec{ClipRule::SdClip, 12.0}, q.data(), &scale);
  EXPECT_EQ(q[0], 0);
  EXPECT_GT(half_bits_to_float(scale), 0.0f);
}

TEST(GptqCalibration, CollectsTheInputHessianOfEveryQuantizedMatrixFromTrainingTokens) {
  test::TempDir dir;
  test::write_random_shards(dir.path(), 5000, 500, 1024, 9);
  // Big enough for per-row ints (> 65,536 values): the embedding (1024 x 144) and the MLP
  // matrices (576 x 144, 144 x 576); the attention matrices (144 x 144) stay fp16.
  const Config config = test::small_gpt_config({"vocab_size=1024", "model_dim=144", "num_heads=4", "num_kv_heads=2", "mlp_mult=4",
                                                "gptq_calibration_tokens=100", "train_seq_len=16",
                                                "train_batch_tokens=64", "grad_accum_steps=1"});
  const ParamLayout layout = model_layout(config);
  std::vector<float> params(static_cast<size_t>(layout.buffer_elements()));
  layout.initialize(params.data(), 5);
  Rng rng(6);
  for (float& v : params) v += static_cast<float>(rng.normal(0.0, 0.02));
  const GptqCalibration c = calibrate_gptq(config, params.data(), dir.path());
  EXPECT_EQ(c.tokens, 128);  // whole batches of 4 x 16 until at least 100 tokens
  EXPECT_EQ(c.batches, 2);
  const QuantPolicy policy = QuantPolicy::from_config(config);
  size_t per_row = 0;
  for (const ParamSpec& spec : layout.specs()) {
    if (choose_encoding(spec.name, spec.shape, policy) != Encoding::IntPerRow) {
      EXPECT_EQ(c.hessians.count(spec.name), 0u) << spec.name;
      continue;
    }
    ++per_row;
    ASSERT_EQ(c.hessians.count(spec.name), 1u) << spec.name;
    const std::vector<double>& h = c.hessians.at(spec.name);
    const int64_t n = spec.shape[1];
    ASSERT_EQ(h.size(), static_cast<size_t>(n * n));
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_GT(h[static_cast<size_t>(i * n + i)], 0.0) << spec.name;
      for (int64_t j = 0; j < i; ++j) EXPECT_EQ(h[static_cast<size_t>(i * n + j)], h[static_cast<size_t>(j * n + i)]);
    }
  }
  EXPECT_GE(per_row, 3u);  // the tied embedding (as the head) and each block's MLP matrices
  EXPECT_EQ(c.hessians.count("tok_emb.weight"), 1u);
  // The input of every token is rmsnorm-ed: for the head, diag(H) sums to tokens · d (each row has
  // mean square 1 before the final norm's weights, which init to 1).
  const std::vector<double>& head = c.hessians.at("tok_emb.weight");
  double trace = 0;
  for (int64_t i = 0; i < 144; ++i) trace += head[static_cast<size_t>(i * 144 + i)];
  EXPECT_NEAR(trace / (128.0 * 144.0), 1.0, 1e-3);
  EXPECT_NE(c.log_line().find("gptq_calibration tokens:128 batches:2"), std::string::npos) << c.log_line();
}

}  // namespace
}  // namespace dg::quant
