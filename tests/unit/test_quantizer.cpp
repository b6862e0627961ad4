// The artifact quantizer must be the challenge's, bit for bit: hand-computed rows (the percentile's
// interpolation, round-half-to-even ties, all-zero rows, one column, the tiny-tensor rules, fp16
// rounding) and random rows compared against torch 1.13 running train_gpt.py's formulas.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>

#include "artifact/bitpack.h"
#include "quant/fp16.h"
#include "quant/fake_quant.h"
#include "quant/quantizer.h"
#include "core/error.h"
#include "core/rng.h"
#include "test_support.h"

namespace dg::quant {
namespace {

using artifact::pack_signed;
using artifact::packed_size;
using artifact::unpack_signed;

// fp32(0.9999984) = 1 − 27·2^-24, so for n values the interpolation rank is (n − 1)(1 − 27·2^-24).
constexpr float kOneMinusQ = 27.0f * 0x1p-24f;

struct RowResult {
  std::vector<int8_t> q;
  std::vector<uint16_t> scales;
  std::vector<float> dequantized;
};

RowResult per_row(const std::vector<float>& w, int64_t rows, int64_t cols, int bits = 8) {
  RowResult r;
  r.q.resize(w.size());
  r.scales.resize(static_cast<size_t>(rows));
  r.dequantized.resize(w.size());
  quantize_per_row(w.data(), rows, cols, bits, r.q.data(), r.scales.data());
  dequantize_per_row(r.q.data(), r.scales.data(), rows, cols, r.dequantized.data());
  return r;
}

TEST(Quantizer, PercentileInterpolatesBetweenTheTopTwoValuesLikeTorch) {
  std::vector<float> scratch;
  // n = 3: rank = 2 − 27·2^-23, so clip = 8 − (8 − 4)·27·2^-23 = 8 − 27·2^-21 (exact in fp32).
  const std::vector<float> row = {-8.0f, 0.0f, 4.0f};
  const float clip = clip_quantile_abs(row.data(), 3, scratch);
  EXPECT_EQ(clip, 8.0f - 27.0f * 0x1p-21f);
  // [3, 1, 2]: 3 − 27·2^-23 is a tie between two fp32 neighbours; ties go to the even one, 3 − 7·2^-21.
  const std::vector<float> tie = {-3.0f, 1.0f, 2.0f};
  EXPECT_EQ(clip_quantile_abs(tie.data(), 3, scratch), 3.0f - 7.0f * 0x1p-21f);
  // One value: rank 0, the value itself.
  const float single = -0.3f;
  EXPECT_EQ(clip_quantile_abs(&single, 1, scratch), 0.3f);
  // Two values: clip = hi − (hi − lo)·27·2^-24.
  const std::vector<float> two = {0.0f, 1.0f};
  EXPECT_EQ(clip_quantile_abs(two.data(), 2, scratch), 1.0f - kOneMinusQ);

  // The matrix row built on the first clip: scale = clip/127 (above the 1/127 floor), the extremes
  // clamp to ±127 and 4/scale = 63.5001… rounds to 64.
  const RowResult r = per_row(row, 1, 3);
  EXPECT_EQ(r.q, (std::vector<int8_t>{-127, 0, 64}));
  const float scale = clip / 127.0f;
  EXPECT_EQ(r.scales[0], float_to_half_bits(scale));
  EXPECT_EQ(r.dequantized[2], 64.0f * half_bits_to_float(float_to_half_bits(scale)));
  EXPECT_EQ(r.dequantized[0], -127.0f * half_bits_to_float(float_to_half_bits(scale)));
}

TEST(Quantizer, RoundsHalfToEven) {
  // The top two |w| are both 127, so clip = 127 exactly, scale = 1 and q = round(w).
  const std::vector<float> row = {127.0f, -127.0f, 2.5f, 3.5f, -2.5f, 0.5f, 1.5f, -0.5f};
  const RowResult r = per_row(row, 1, 8);
  EXPECT_EQ(r.q, (std::vector<int8_t>{127, -127, 2, 4, -2, 0, 2, 0}));
  EXPECT_EQ(r.scales[0], 0x3c00);  // fp16 1.0
  EXPECT_EQ(r.dequantized[3], 4.0f);
}

TEST(Quantizer, AllZeroRowsUseTheScaleFloorAndComeBackAsZeros) {
  const std::vector<float> zeros(5, 0.0f);
  const RowResult r = per_row(zeros, 1, 5);
  EXPECT_EQ(r.q, std::vector<int8_t>(5, 0));
  EXPECT_EQ(r.scales[0], float_to_half_bits(static_cast<float>(1.0 / 127.0)));
  for (float v : r.dequantized) EXPECT_EQ(std::bit_cast<uint32_t>(v), 0u);
  // A whole zero tensor on the per-tensor path: scale 1, all zeros.
  std::vector<int8_t> q(5, 9);
  float scale = 0.0f;
  quantize_per_tensor(zeros.data(), 5, 8, q.data(), &scale);
  EXPECT_EQ(scale, 1.0f);
  EXPECT_EQ(q, std::vector<int8_t>(5, 0));
}

TEST(Quantizer, SingleColumnRowsClipAtTheirOwnValue) {
  const std::vector<float> column = {0.3f, -2.0f, 0.0f};
  const RowResult r = per_row(column, 3, 1);
  // Row 0: clip 0.3 < 1 so the scale is the floor 1/127 and q = round(0.3·127) = 38.
  EXPECT_EQ(r.q[0], 38);
  EXPECT_EQ(r.scales[0], float_to_half_bits(static_cast<float>(1.0 / 127.0)));
  // Row 1: clip 2, scale 2/127, q = −127.
  EXPECT_EQ(r.q[1], -127);
  EXPECT_EQ(r.scales[1], float_to_half_bits(2.0f / 127.0f));
  EXPECT_EQ(r.q[2], 0);
}

TEST(Quantizer, PerTensorScaleIsFp32ClipOver127) {
  const std::vector<float> w = {-3.0f, 1.0f, 2.0f};
  std::vector<int8_t> q(3);
  float scale = 0.0f;
  quantize_per_tensor(w.data(), 3, 8, q.data(), &scale);
  const float clip = 3.0f - 7.0f * 0x1p-21f;
  EXPECT_EQ(scale, static_cast<float>(static_cast<double>(clip) / 127.0));
  EXPECT_EQ(q, (std::vector<int8_t>{-127, 42, 85}));  // 127/clip = 42.33…, 254/clip = 84.67…
  std::vector<float> out(3);
  dequantize_per_tensor(q.data(), scale, 3, out.data());
  EXPECT_EQ(out[1], 42.0f * scale);
}

TEST(Quantizer, NarrowWidthsUseTheirOwnQmaxAndFloor) {
  // int6: qmax 31; clip 31 (top two equal) gives scale 1.
  const std::vector<float> row = {31.0f, -31.0f, 1.5f, 2.5f, 0.5f};
  const RowResult r = per_row(row, 1, 5, 6);
  EXPECT_EQ(r.q, (std::vector<int8_t>{31, -31, 2, 2, 0}));
  // Small weights: the floor is 1/31, so 0.05 becomes round(1.55) = 2.
  const std::vector<float> small = {0.05f, -0.01f};
  const RowResult s = per_row(small, 1, 2, 6);
  EXPECT_EQ(s.scales[0], float_to_half_bits(static_cast<float>(1.0 / 31.0)));
  EXPECT_EQ(s.q, (std::vector<int8_t>{2, 0}));
  std::vector<int8_t> q(2);
  uint16_t scale = 0;
  EXPECT_THROW(quantize_per_row(small.data(), 1, 2, 9, q.data(), &scale), Error);
  EXPECT_THROW(quantize_per_row(small.data(), 1, 2, 1, q.data(), &scale), Error);
}

TEST(Quantizer, TensorRulesFollowTrainGptPy) {
  const QuantPolicy policy = QuantPolicy::challenge_default();
  // Small tensors: fp32 when the name contains a control pattern, otherwise fp16.
  EXPECT_EQ(choose_encoding("blocks.0.attn_scale", {512}, policy), Encoding::Fp32);
  EXPECT_EQ(choose_encoding("blocks.3.resid_mix", {2, 512}, policy), Encoding::Fp32);
  EXPECT_EQ(choose_encoding("blocks.3.attn.q_gain", {8}, policy), Encoding::Fp32);
  EXPECT_EQ(choose_encoding("skip_weights", {4, 512}, policy), Encoding::Fp32);
  EXPECT_EQ(choose_encoding("blocks.0.attn.c_k.weight", {256, 256}, policy), Encoding::Fp16);  // exactly 65,536
  EXPECT_EQ(choose_encoding("memory", {1, 16, 512}, policy), Encoding::Fp16);
  // Larger: 2-D per row, anything else per tensor, whatever the name.
  EXPECT_EQ(choose_encoding("blocks.0.attn.c_q.weight", {512, 129}, policy), Encoding::IntPerRow);  // 66,048
  EXPECT_EQ(choose_encoding("tok_emb.weight", {1024, 512}, policy), Encoding::IntPerRow);
  EXPECT_EQ(choose_encoding("big_vector", {65537}, policy), Encoding::IntPerTensor);
  EXPECT_EQ(choose_encoding("big_cube", {2, 200, 200}, policy), Encoding::IntPerTensor);
  EXPECT_EQ(choose_encoding("huge.resid_mix", {2, 40000}, policy), Encoding::IntPerRow);
  // Patterns are configurable (PR #345 adds lambda_*, loop_embed, memory).
  QuantPolicy dart = policy;
  dart.keep_fp32_patterns = split_patterns("attn_scale,,memory,");
  EXPECT_EQ(dart.keep_fp32_patterns, (std::vector<std::string>{"attn_scale", "memory"}));
  EXPECT_EQ(choose_encoding("memory", {1, 16, 512}, dart), Encoding::Fp32);

  // Round trip through EncodedTensor: fp32 exact, fp16 rounded, ints as the low-level functions.
  const std::vector<float> small = {1.0f / 3.0f, -2.5e-5f, 70000.0f};
  float out[3];
  const EncodedTensor kept = encode_tensor("blocks.0.attn_scale", {3}, small.data(), policy);
  decode_tensor(kept, out);
  EXPECT_EQ(std::memcmp(out, small.data(), sizeof out), 0);
  const EncodedTensor half = encode_tensor("blocks.0.other", {2}, small.data(), policy);
  decode_tensor(half, out);
  EXPECT_EQ(out[0], round_to_half(1.0f / 3.0f));
  EXPECT_EQ(out[1], round_to_half(-2.5e-5f));
  // torch's .to(torch.float16) would turn 70000 into inf and the artifact would score NaN: refused.
  try {
    encode_tensor("blocks.0.other", {3}, small.data(), policy);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blocks.0.other: row 0 column 2 holds 70000, beyond fp16's largest value"),
              std::string::npos)
        << e.what();
  }
}

TEST(Quantizer, NonFiniteWeightsAreAClearError) {
  std::vector<float> w = {0.1f, 0.2f, std::numeric_limits<float>::quiet_NaN(), 0.3f};
  std::vector<int8_t> q(4);
  uint16_t scales[2];
  try {
    quantize_per_row(w.data(), 2, 2, 8, q.data(), scales);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("row 1 column 0"), std::string::npos) << e.what();
  }
  std::vector<int64_t> shape = {600, 200};
  std::vector<float> big(120000, 0.01f);
  big[777] = std::numeric_limits<float>::infinity();
  try {
    encode_tensor("blocks.2.mlp.fc.weight", shape, big.data(), QuantPolicy::challenge_default());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blocks.2.mlp.fc.weight"), std::string::npos) << e.what();
  }
  // Tensors stored as fp16 or fp32 refuse NaN and Inf too (pack once wrote them into the artifact).
  const QuantPolicy policy = QuantPolicy::challenge_default();
  for (const char* name : {"blocks.0.attn_scale", "blocks.0.small"}) {  // fp32, fp16
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::infinity()}) {
      std::vector<float> v = {0.5f, 0.25f, bad, 1.0f};
      try {
        encode_tensor(name, {2, 2}, v.data(), policy);
        FAIL() << name << " accepted " << bad;
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(std::string(name) + ": row 1 column 0 holds"), std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find("not finite"), std::string::npos) << e.what();
      }
    }
  }
}

TEST(Quantizer, FakeQuantizeEqualsQuantizeThenDequantize) {
  Rng rng(7);
  const int64_t rows = 37, cols = 129;
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (auto& v : w) v = static_cast<float>(rng.normal(0.0, 0.3));
  for (int bits : {8, 6, 4}) {
    const RowResult r = per_row(w, rows, cols, bits);
    std::vector<float> fake(w.size());
    fake_quantize_per_row(w.data(), rows, cols, bits, fake.data());
    EXPECT_EQ(std::memcmp(fake.data(), r.dequantized.data(), fake.size() * 4), 0) << "bits " << bits;
  }
  std::vector<float> in_place = w;
  fake_quantize_per_row(in_place.data(), rows, cols, in_place.data());  // the int8 overload DART uses
  EXPECT_EQ(std::memcmp(in_place.data(), per_row(w, rows, cols).dequantized.data(), w.size() * 4), 0);
}

TEST(Fp16, RoundsToNearestEvenAcrossTheRange) {
  EXPECT_EQ(float_to_half_bits(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half_bits(-0.0f), 0x8000);
  EXPECT_EQ(float_to_half_bits(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_half_bits(65519.0f), 0x7bff);
  EXPECT_EQ(float_to_half_bits(65520.0f), 0x7c00);  // the tie goes up to inf (even mantissa)
  EXPECT_EQ(float_to_half_bits(1.0f + 0x1p-11f), 0x3c00);  // tie, stays even
  EXPECT_EQ(float_to_half_bits(1.0f + 3 * 0x1p-11f), 0x3c02);  // tie, rounds up to even
  EXPECT_EQ(float_to_half_bits(0x1p-24f), 0x0001);  // smallest subnormal
  EXPECT_EQ(float_to_half_bits(0x1p-25f), 0x0000);  // tie with zero, stays even
  EXPECT_EQ(float_to_half_bits(1.5f * 0x1p-25f), 0x0001);
  EXPECT_EQ(float_to_half_bits(3.0f * 0x1p-25f), 0x0002);  // 1.5 ulp: tie, to even
  EXPECT_EQ(float_to_half_bits(0x1p-14f - 0x1p-26f), 0x0400);  // rounds up into the normals
  EXPECT_EQ(float_to_half_bits(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_TRUE(std::isnan(half_bits_to_float(float_to_half_bits(std::numeric_limits<float>::quiet_NaN()))));
  // Every finite half survives half → float → half.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x03ff)) continue;  // NaNs
    ASSERT_EQ(float_to_half_bits(half_bits_to_float(static_cast<uint16_t>(h))), h) << std::hex << h;
  }
}

TEST(Bitpack, RoundTripsEveryValueOfEveryWidth) {
  for (int bits = 2; bits <= 8; ++bits) {
    const int qmax = (1 << (bits - 1)) - 1;
    std::vector<int8_t> values;
    for (int rep = 0; rep < 3; ++rep)
      for (int v = -qmax; v <= qmax; ++v) values.push_back(static_cast<int8_t>(v));
    values.push_back(static_cast<int8_t>(-qmax));  // an odd count leaves a padded last byte
    std::string packed;
    pack_signed(values.data(), static_cast<int64_t>(values.size()), bits, packed);
    ASSERT_EQ(static_cast<int64_t>(packed.size()), packed_size(static_cast<int64_t>(values.size()), bits));
    std::vector<int8_t> back(values.size());
    unpack_signed(reinterpret_cast<const uint8_t*>(packed.data()), static_cast<int64_t>(values.size()), bits, back.data());
    EXPECT_EQ(back, values) << "bits " << bits;
  }
  EXPECT_EQ(packed_size(4, 6), 3);  // int6: four weights in three bytes
}

// ---- against torch 1.13 ------------------------------------------------------------------------

bool torch_available() {
  static const bool ok = std::system("/usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1") == 0;
  return ok;
}

// train_gpt.py's quantizer written with torch ops (quantile, minimum/maximum, clamp_min, round,
// clamp, int8 and float16 casts), generalised to qmax = 2^(bits-1) - 1 as int6 records do.
constexpr const char* kTorchReference = R"PY(
import sys, numpy as np, torch
Q = 99.99984 / 100.0
data = open(sys.argv[1], "rb").read()
out = open(sys.argv[2], "wb")
pos = 0
while pos < len(data):
    kind, bits = np.frombuffer(data, np.int32, 2, pos); pos += 8
    rows, cols = np.frombuffer(data, np.int64, 2, pos); pos += 16
    n = int(rows * cols)
    t = torch.from_numpy(np.frombuffer(data, np.float32, n, pos).copy()).reshape(int(rows), int(cols)); pos += 4 * n
    qmax = float((1 << (int(bits) - 1)) - 1)
    if kind == 0:
        clip = torch.quantile(t.abs(), Q, dim=1)
        clipped = torch.maximum(torch.minimum(t, clip[:, None]), -clip[:, None])
        scale = (clip / qmax).clamp_min(1.0 / qmax)
        q = torch.clamp(torch.round(clipped / scale[:, None]), -qmax, qmax).to(torch.int8)
        s16 = scale.to(torch.float16)
        deq = q.float() * s16.to(torch.float32)[:, None]
        out.write(q.numpy().tobytes()); out.write(s16.numpy().view(np.uint16).tobytes()); out.write(deq.numpy().tobytes())
    elif kind == 1:
        flat = t.flatten()
        clip = float(torch.quantile(flat.abs(), Q).item())
        scale = torch.tensor(clip / qmax if clip > 0 else 1.0, dtype=torch.float32)
        q = torch.clamp(torch.round(torch.clamp(flat, -clip, clip) / scale), -qmax, qmax).to(torch.int8)
        deq = q.float() * float(scale.item())
        out.write(q.numpy().tobytes()); out.write(scale.numpy().tobytes()); out.write(deq.numpy().tobytes())
    else:
        out.write(t.flatten().to(torch.float16).numpy().view(np.uint16).tobytes())
)PY";

struct Case {
  int32_t kind = 0, bits = 8;  // kind 0: per row, 1: per tensor, 2: fp16 cast
  int64_t rows = 0, cols = 0;
  std::vector<float> values;
};

std::vector<Case> random_cases() {
  Rng rng(20240520);
  std::vector<Case> cases;
  auto add = [&](int32_t kind, int32_t bits, int64_t rows, int64_t cols, auto&& fill) {
    Case c{kind, bits, rows, cols, std::vector<float>(static_cast<size_t>(rows * cols))};
    for (int64_t i = 0; i < rows * cols; ++i) c.values[static_cast<size_t>(i)] = fill(i);
    cases.push_back(std::move(c));
  };
  for (float magnitude : {0.004f, 0.05f, 0.6f, 3.0f, 250.0f})
    for (int64_t cols : {1, 2, 3, 7, 64, 512, 1000, 1536, 4096})
      add(0, 8, 5, cols, [&](int64_t) { return static_cast<float>(rng.normal(0.0, magnitude)); });
  // Ties: values on a coarse grid (equal |w| everywhere, exact .5 ratios).
  for (int64_t cols : {3, 8, 512})
    add(0, 8, 6, cols, [&](int64_t) { return 0.25f * static_cast<float>(static_cast<int>(rng.below(17)) - 8); });
  // Zeros, one outlier, a repeated maximum.
  add(0, 8, 2, 700, [](int64_t) { return 0.0f; });
  add(0, 8, 3, 700, [](int64_t i) { return i % 700 == 123 ? 1.7f : 0.0f; });
  add(0, 8, 3, 700, [&](int64_t i) { return i % 7 == 0 ? -2.0f : static_cast<float>(rng.uniform(-2.0, 2.0)); });
  // Narrow widths (the int6 records' generalisation).
  for (int32_t bits : {6, 4})
    add(0, bits, 8, 300, [&](int64_t) { return static_cast<float>(rng.normal(0.0, 0.4)); });
  // Per-tensor, including a length whose interpolation weight is below 0.5 (torch's other lerp branch).
  for (int64_t n : {1, 5, 70000, 400000})
    add(1, 8, 1, n, [&](int64_t) { return static_cast<float>(rng.normal(0.0, 0.2)); });
  // fp16 casts over the whole range, subnormals and exact ties included.
  add(2, 16, 1, 20000, [&](int64_t i) {
    if (i % 4 == 0) {  // the midpoint of two neighbouring halves
      const auto h = static_cast<uint16_t>(rng.below(0x7bff));
      return (half_bits_to_float(h) + half_bits_to_float(static_cast<uint16_t>(h + 1))) * 0.5f * (i % 8 ? 1.0f : -1.0f);
    }
    return static_cast<float>(rng.normal(0.0, 1.0) * std::ldexp(1.0, static_cast<int>(rng.below(48)) - 30));
  });
  return cases;
}

TEST(QuantizerVsTorch, RandomRowsMatchBitForBit) {
  if (!torch_available()) GTEST_SKIP() << "Debian's python3-torch is not installed (/usr/bin/python3 -c 'import torch')";
  test::TempDir dir;
  const std::vector<Case> cases = random_cases();
  {
    std::ofstream in(dir / "cases.bin", std::ios::binary);
    for (const Case& c : cases) {
      in.write(reinterpret_cast<const char*>(&c.kind), 4);
      in.write(reinterpret_cast<const char*>(&c.bits), 4);
      in.write(reinterpret_cast<const char*>(&c.rows), 8);
      in.write(reinterpret_cast<const char*>(&c.cols), 8);
      in.write(reinterpret_cast<const char*>(c.values.data()), static_cast<std::streamsize>(c.values.size() * 4));
    }
  }
  test::write_text(dir / "reference.py", kTorchReference);
  const auto run = test::run_command("/usr/bin/python3 " + test::quoted(dir / "reference.py") + " " +
                                     test::quoted(dir / "cases.bin") + " " + test::quoted(dir / "torch.bin"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::string expected = test::read_text(dir / "torch.bin");
  size_t pos = 0;
  auto take = [&](size_t bytes) {
    EXPECT_LE(pos + bytes, expected.size());
    const char* p = expected.data() + pos;
    pos += bytes;
    return p;
  };
  int index = 0;
  for (const Case& c : cases) {
    const int64_t n = c.rows * c.cols;
    const auto bytes = static_cast<size_t>(n);
    const std::string label = "case " + std::to_string(index++) + " kind " + std::to_string(c.kind) + " " +
                              std::to_string(c.rows) + "x" + std::to_string(c.cols) + " bits " + std::to_string(c.bits);
    if (c.kind == 0) {
      const RowResult r = per_row(c.values, c.rows, c.cols, c.bits);
      EXPECT_EQ(std::memcmp(take(bytes), r.q.data(), bytes), 0) << label << ": q";
      EXPECT_EQ(std::memcmp(take(2 * static_cast<size_t>(c.rows)), r.scales.data(), 2 * static_cast<size_t>(c.rows)), 0)
          << label << ": fp16 scales";
      EXPECT_EQ(std::memcmp(take(4 * bytes), r.dequantized.data(), 4 * bytes), 0) << label << ": dequantized";
    } else if (c.kind == 1) {
      std::vector<int8_t> q(bytes);
      float scale = 0.0f;
      std::vector<float> deq(bytes);
      quantize_per_tensor(c.values.data(), n, c.bits, q.data(), &scale);
      dequantize_per_tensor(q.data(), scale, n, deq.data());
      EXPECT_EQ(std::memcmp(take(bytes), q.data(), bytes), 0) << label << ": q";
      EXPECT_EQ(std::memcmp(take(4), &scale, 4), 0) << label << ": scale";
      EXPECT_EQ(std::memcmp(take(4 * bytes), deq.data(), 4 * bytes), 0) << label << ": dequantized";
    } else {
      std::vector<uint16_t> halves(bytes);
      for (size_t i = 0; i < bytes; ++i) halves[i] = float_to_half_bits(c.values[i]);
      EXPECT_EQ(std::memcmp(take(2 * bytes), halves.data(), 2 * bytes), 0) << label << ": fp16";
    }
  }
  EXPECT_EQ(pos, expected.size());
}

}  // namespace
}  // namespace dg::quant
