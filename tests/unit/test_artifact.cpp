// The artifact container: every codec and width round-trips bit for bit, and every kind of damage
// (truncation, a flipped byte, a foreign file, another version, an unknown codec, a config that does
// not match the tensors) is refused with a message that says what is wrong.
#include <gtest/gtest.h>

#include <cstring>

#include "artifact/artifact.h"
#include "artifact/model_artifact.h"
#include "backend/backend.h"
#include "core/checksum.h"
#include "core/error.h"
#include "core/rng.h"
#include "model/model_factory.h"
#include "model_fixtures.h"
#include "test_support.h"

namespace dg::artifact {
namespace {

using namespace dg::quant;

std::vector<float> random_values(int64_t n, uint64_t seed, double std = 0.1) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<float>(rng.normal(0.0, std));
  return v;
}

// One tensor of every encoding: fp32 control, fp16 small, per-row matrix, per-tensor cube.
Artifact sample_artifact(int bits) {
  QuantPolicy policy = QuantPolicy::challenge_default();
  policy.bits = bits;
  Artifact a;
  a.config = {{"model", "gpt"}, {"model_dim", 64}, {"artifact_bits", bits}};
  a.meta = {{"step", 12}, {"val_bpb", 1.25}};
  const std::vector<std::pair<std::string, std::vector<int64_t>>> specs = {
      {"blocks.0.resid_mix", {2, 64}}, {"blocks.0.attn.c_k.weight", {32, 64}},
      {"tok_emb.weight", {1100, 64}},  {"odd.cube", {3, 151, 157}}};
  uint64_t seed = 1;
  for (const auto& [name, shape] : specs) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    const std::vector<float> values = random_values(n, seed++);
    a.tensors.push_back(encode_tensor(name, shape, values.data(), policy));
  }
  return a;
}

void expect_same_tensors(const Artifact& a, const Artifact& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const EncodedTensor& x = a.tensors[i];
    const EncodedTensor& y = b.tensors[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.shape, y.shape);
    EXPECT_EQ(x.encoding, y.encoding) << x.name;
    EXPECT_EQ(x.bits, y.bits) << x.name;
    EXPECT_EQ(x.q, y.q) << x.name;
    EXPECT_EQ(x.row_scales, y.row_scales) << x.name;
    EXPECT_EQ(std::memcmp(&x.tensor_scale, &y.tensor_scale, 4), 0) << x.name;
    EXPECT_EQ(x.fp16, y.fp16) << x.name;
    ASSERT_EQ(x.fp32.size(), y.fp32.size());
    EXPECT_EQ(std::memcmp(x.fp32.data(), y.fp32.data(), 4 * x.fp32.size()), 0) << x.name;
    std::vector<float> dx(static_cast<size_t>(x.numel())), dy(dx.size());
    decode_tensor(x, dx.data());
    decode_tensor(y, dy.data());
    EXPECT_EQ(std::memcmp(dx.data(), dy.data(), 4 * dx.size()), 0) << x.name;
  }
}

std::string error_of(const std::string& bytes) {
  try {
    parse_artifact(bytes, "a.art");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void put_u32(std::string& bytes, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// Re-seals a deliberately edited file so that only the edit is wrong, not the checksum.
void reseal(std::string& bytes) {
  put_u32(bytes, bytes.size() - 4, crc32_of(std::string_view(bytes).substr(0, bytes.size() - 4)));
}

TEST(ArtifactContainer, RoundTripsBitExactForEveryCodecAndWidth) {
  for (int bits : {8, 6, 4}) {
    const Artifact original = sample_artifact(bits);
    for (Codec codec : all_codecs()) {
      for (bool bitpack : {true, false}) {
        SCOPED_TRACE(std::string(codec_name(codec)) + " bits " + std::to_string(bits) + (bitpack ? " packed" : ""));
        ArtifactSizes sizes;
        const std::string bytes = serialize_artifact(original, codec, bitpack, &sizes);
        EXPECT_EQ(sizes.file_bytes, static_cast<int64_t>(bytes.size()));
        EXPECT_EQ(bytes.substr(0, 8), "DGOLFART");
        const Artifact back = parse_artifact(bytes, "memory");
        EXPECT_EQ(back.codec, codec);
        EXPECT_EQ(back.bitpacked, bitpack);
        EXPECT_EQ(back.raw_bytes, static_cast<uint64_t>(sizes.raw_bytes));
        EXPECT_EQ(back.config, original.config);
        EXPECT_EQ(back.meta, original.meta);
        expect_same_tensors(original, back);
        EXPECT_EQ(serialize_artifact(back, codec, bitpack), bytes);  // deterministic
      }
    }
  }
  // Bit packing makes int6 smaller before compression: 6/8 of the int bytes.
  ArtifactSizes packed, loose;
  serialize_artifact(sample_artifact(6), Codec::Zlib, true, &packed);
  serialize_artifact(sample_artifact(6), Codec::Zlib, false, &loose);
  EXPECT_LT(packed.payload_bytes, loose.payload_bytes);
}

TEST(ArtifactContainer, BestKeepsTheSmallestCodecAndRecordsIt) {
  const Artifact original = sample_artifact(6);
  ArtifactSizes best;
  const std::string bytes = serialize_artifact(original, CodecChoice::parse("best"), false, &best);
  for (Codec codec : all_codecs()) {
    ArtifactSizes one;
    serialize_artifact(original, codec, false, &one);
    EXPECT_LE(best.file_bytes, one.file_bytes) << codec_name(codec);
  }
  const Artifact back = parse_artifact(bytes, "best.art");
  EXPECT_EQ(back.codec, best.codec);
  expect_same_tensors(original, back);
  EXPECT_EQ(CodecChoice::parse("best").name(), "best");
  EXPECT_EQ(CodecChoice::parse("brotli").name(), "brotli");
  EXPECT_THROW(CodecChoice::parse("bzip2"), Error);
}

TEST(ArtifactContainer, DamagedBrotliPayloadsAreRefused) {
  const std::string good = serialize_artifact(sample_artifact(8), Codec::Brotli, false);
  ASSERT_EQ(error_of(good), "");
  // Cut the compressed stream short but keep the header and checksum consistent with the cut.
  std::string cut = good.substr(0, good.size() - 4 - 20);
  put_u32(cut, 24, static_cast<uint32_t>(cut.size() - 32));
  for (int i = 4; i < 8; ++i) cut[24 + i] = 0;
  cut.append(4, '\0');
  reseal(cut);
  EXPECT_NE(error_of(cut).find("brotli payload is corrupt"), std::string::npos) << error_of(cut);
  std::string garbage = good;
  for (size_t i = 32; i < 64; ++i) garbage[i] = static_cast<char>(0x5A);
  reseal(garbage);
  EXPECT_NE(error_of(garbage).find("brotli payload"), std::string::npos) << error_of(garbage);
}

TEST(ArtifactContainer, FilesOnDiskRoundTrip) {
  test::TempDir dir;
  const Artifact original = sample_artifact(8);
  const std::string bytes = serialize_artifact(original, Codec::Zlib, true);
  write_artifact(dir / "m.art", bytes);
  EXPECT_TRUE(looks_like_artifact(dir / "m.art"));
  EXPECT_EQ(test::read_text(dir / "m.art"), bytes);
  expect_same_tensors(original, read_artifact(dir / "m.art"));
  test::write_text(dir / "other.bin", "hello world, not an artifact");
  EXPECT_FALSE(looks_like_artifact(dir / "other.bin"));
}

TEST(ArtifactContainer, CorruptFilesAreRefusedClearly) {
  const std::string good = serialize_artifact(sample_artifact(8), Codec::Zlib, true);
  ASSERT_EQ(error_of(good), "");

  EXPECT_NE(error_of(good.substr(0, good.size() - 1)).find("truncated"), std::string::npos);
  EXPECT_NE(error_of(good.substr(0, good.size() / 2)).find("truncated"), std::string::npos);
  EXPECT_NE(error_of(good.substr(0, 20)).find("truncated"), std::string::npos);
  EXPECT_NE(error_of("").find("not a dartgolf artifact"), std::string::npos);
  EXPECT_NE(error_of(good + "x").find("padded"), std::string::npos);

  for (size_t at : {size_t{40}, good.size() / 2, good.size() - 5, size_t{20}}) {
    std::string flipped = good;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x10);
    const std::string message = error_of(flipped);
    EXPECT_TRUE(message.find("checksum mismatch") != std::string::npos || message.find("truncated") != std::string::npos)
        << "byte " << at << ": " << message;
  }
  std::string flipped_payload = good;
  flipped_payload[good.size() / 2] ^= 0x01;
  EXPECT_NE(error_of(flipped_payload).find("a.art: checksum mismatch"), std::string::npos);

  std::string magic = good;
  magic[0] = 'X';
  EXPECT_NE(error_of(magic).find("a.art: not a dartgolf artifact"), std::string::npos);

  std::string version = good;
  put_u32(version, 8, 2);
  EXPECT_NE(error_of(version).find("version 2 is not supported"), std::string::npos) << error_of(version);

  std::string codec = good;
  codec[12] = 9;
  reseal(codec);
  EXPECT_NE(error_of(codec).find("unknown codec id 9"), std::string::npos) << error_of(codec);

  std::string flags = good;
  flags[13] = 0x40;
  reseal(flags);
  EXPECT_NE(error_of(flags).find("unknown header flags"), std::string::npos) << error_of(flags);

  // A well-sealed file whose compressed stream is garbage: the codec reports it.
  std::string garbage = good;
  for (size_t i = 32; i < 64; ++i) garbage[i] = static_cast<char>(0xA5);
  reseal(garbage);
  EXPECT_NE(error_of(garbage).find("zlib payload is corrupt"), std::string::npos) << error_of(garbage);
}

TEST(ArtifactContainer, ConfigMismatchIsAClearError) {
  // Pack a small gpt, then claim a different shape in the stored config.
  const Config config = test::small_gpt_config();
  const ParamLayout layout = model_layout(config);
  std::vector<float> params(static_cast<size_t>(layout.buffer_elements()));
  layout.initialize(params.data(), 3);
  const PackedArtifact packed = pack_parameters(layout, params.data(), config, {{"step", 0}});
  Artifact artifact = parse_artifact(packed.bytes, "m.art");
  EXPECT_NO_THROW(check_artifact_layout(artifact, model_layout(artifact_config(artifact, "m.art")), "m.art"));

  artifact.config["model_dim"] = 48;
  const Config wrong = artifact_config(artifact, "m.art");
  try {
    check_artifact_layout(artifact, model_layout(wrong), "m.art");
    FAIL() << "expected a config mismatch";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("m.art: config mismatch"), std::string::npos) << m;
    EXPECT_NE(m.find("shape of tok_emb.weight: artifact [64, 32], config [64, 48]"), std::string::npos) << m;
  }
  artifact.config["model_dim"] = 32;
  artifact.config["num_layers"] = 2;
  try {
    check_artifact_layout(artifact, model_layout(artifact_config(artifact, "m.art")), "m.art");
    FAIL() << "expected a config mismatch";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unexpected: blocks.2.attn.c_q.weight"), std::string::npos) << e.what();
  }
  // Loading into a model checks the same thing.
  auto backend = make_cpu_backend();
  Config other = test::small_gpt_config({"num_layers=4"});
  auto model = make_model(other, *backend, 1, 16);
  EXPECT_THROW(load_artifact_weights(parse_artifact(packed.bytes, "m.art"), "m.art", *model, *backend), Error);
}

TEST(ArtifactContainer, LoadedWeightsAreTheDequantizedTensors) {
  const Config config = test::small_gpt_config({"vocab_size=1100", "model_dim=64", "mlp_mult=17"});
  auto backend = make_cpu_backend();
  auto model = make_model(config, *backend, 1, 16);
  test::randomize_params(*model, *backend, 11);
  const ParamLayout& layout = model->layout();
  std::vector<float> master(static_cast<size_t>(layout.buffer_elements()));
  backend->copy_to_host(master.data(), model->params());
  const PackedArtifact packed = pack_parameters(layout, master.data(), config, nlohmann::json::object());
  EXPECT_EQ(packed.parameter_count, layout.parameter_count());
  const Artifact artifact = parse_artifact(packed.bytes, "m.art");

  auto loaded = make_model(config, *backend, 1, 16);
  load_artifact_weights(artifact, "m.art", *loaded, *backend);
  std::vector<float> got(master.size());
  backend->copy_to_host(got.data(), loaded->params());
  const QuantPolicy policy = QuantPolicy::challenge_default();
  int quantized = 0;
  for (const ParamSpec& spec : layout.specs()) {
    std::vector<float> expected(static_cast<size_t>(spec.numel()));
    decode_tensor(encode_tensor(spec.name, spec.shape, master.data() + spec.offset, policy), expected.data());
    EXPECT_EQ(std::memcmp(expected.data(), got.data() + spec.offset, 4 * expected.size()), 0) << spec.name;
    quantized += choose_encoding(spec.name, spec.shape, policy) == Encoding::IntPerRow;
  }
  EXPECT_EQ(quantized, 1 + 3 * 2);  // the embedding and each block's MLP matrices
}

}  // namespace
}  // namespace dg::artifact
