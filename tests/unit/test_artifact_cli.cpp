// The artifact from the command line: `train` ends by packing and scoring the round trip,
// `eval --artifact` reproduces that score exactly, `pack` writes other codecs/widths and submission
// folders, damaged artifacts and oversize submissions fail clearly, and `inspect` reports both files.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "core/rng.h"
#include "model/model_factory.h"
#include "model/settings.h"
#include "shard_fixtures.h"
#include "train/checkpoint.h"
#include "test_support.h"

namespace dg {
namespace {
namespace fs = std::filesystem;

std::string last_match(const std::string& text, const std::string& pattern) {
  std::smatch m;
  std::string last;
  std::string::const_iterator it = text.begin();
  const std::regex re(pattern);
  while (std::regex_search(it, text.end(), m, re)) last = m[1], it = m.suffix().first;
  return last;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

class ArtifactCli : public ::testing::Test {
 protected:
  // One short training run shared by the tests: its embedding (1024 x 80) takes the per-row int8 path.
  static void SetUpTestSuite() {
    tokenizer_ = test::shared_data("fineweb_1024_bpe.model");
    if (!fs::exists(tokenizer_)) return;
    dir_ = new test::TempDir();
    test::write_random_shards(dir_->path(), 20000, 3000, 1024, 42);
    train_ = new test::CommandResult(test::run_dartgolf(train_args("run", "--set iterations=4")));
  }
  static void TearDownTestSuite() {
    delete train_;
    delete dir_;
  }
  void SetUp() override {
    if (!dir_) GTEST_SKIP() << "needs " << tokenizer_;
    ASSERT_EQ(train_->exit_code, 0) << train_->output;
  }
  static std::string train_args(const std::string& out, const std::string& extra) {
    return "train --preset tiny --out " + test::quoted(dir_->path() / out) + " --set data_path=" +
           test::quoted(dir_->path()) + " --set tokenizer_path=" + test::quoted(tokenizer_) +
           " --set model_dim=80 --set num_heads=2 --set num_kv_heads=1 --set train_seq_len=64"
           " --set train_batch_tokens=256 --set val_loss_every=0 --set threads=1 " + extra;
  }
  static fs::path run(const std::string& name) { return dir_->path() / "run" / name; }

  static inline test::TempDir* dir_ = nullptr;
  static inline test::CommandResult* train_ = nullptr;
  static inline fs::path tokenizer_;
};

constexpr const char* kExact = "final_int8_zlib_roundtrip_exact val_loss:[0-9.]+ val_bpb:([0-9.]+)";

TEST_F(ArtifactCli, TrainEndsWithTheRoundTripAndEvalReproducesIt) {
  const std::string& out = train_->output;
  EXPECT_TRUE(std::regex_search(out, std::regex("Code size: [0-9]+ bytes"))) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("Serialized model int8\\+zlib: [0-9]+ bytes \\(payload:[0-9]+ raw:[0-9]+ "
                                                "payload_ratio:[0-9.]+x\\)")))
      << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("Total submission size int8\\+zlib: [0-9]+ bytes"))) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("final_int8_zlib_roundtrip val_loss:[0-9.]+ val_bpb:[0-9.]+ "
                                                "eval_time:[0-9]+ms")))
      << out;
  EXPECT_TRUE(contains(out, "quantization_gap val_bpb:")) << out;
  const std::string trained = last_match(out, kExact);
  ASSERT_FALSE(trained.empty()) << out;
  ASSERT_TRUE(fs::exists(run("final_model.int8.zlib")));
  EXPECT_TRUE(contains(test::read_text(run("train_log.txt")), "final_int8_zlib_roundtrip_exact"));
  EXPECT_TRUE(contains(test::read_text(run("metrics.jsonl")), "\"event\":\"artifact\""));

  const auto eval = test::run_dartgolf("eval --artifact " + test::quoted(run("final_model.int8.zlib")));
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_EQ(last_match(eval.output, kExact), trained) << eval.output;
  EXPECT_TRUE(contains(eval.output, "eval artifact:")) << eval.output;

  // pack from the checkpoint gives the same weights, hence the same score.
  const auto pack = test::run_dartgolf("pack --checkpoint " + test::quoted(run("final_model.safetensors")) + " --out " +
                                       test::quoted(dir_->path() / "packed.int8"));
  ASSERT_EQ(pack.exit_code, 0) << pack.output;
  const auto eval2 = test::run_dartgolf("eval --artifact " + test::quoted(dir_->path() / "packed.int8"));
  EXPECT_EQ(last_match(eval2.output, kExact), trained) << eval2.output;
}

TEST_F(ArtifactCli, PackWritesOtherCodecsAndWidthsAndASubmissionFolder) {
  const fs::path art = dir_->path() / "m.int6.lzma";
  const fs::path sub = dir_->path() / "records" / "2026-01-01_test";
  const auto pack = test::run_dartgolf("pack --checkpoint " + test::quoted(run("final_model.safetensors")) + " --out " +
                                       test::quoted(art) + " --codec lzma --bits 6 --submission " + test::quoted(sub) +
                                       " --author 'Ada Example' --github-id ada --blurb 'short test'");
  ASSERT_EQ(pack.exit_code, 0) << pack.output;
  EXPECT_TRUE(contains(pack.output, "Serialized model int6+lzma:")) << pack.output;
  const std::string packed_bpb = last_match(pack.output, "final_int6_lzma_roundtrip_exact val_loss:[0-9.]+ val_bpb:([0-9.]+)");
  ASSERT_FALSE(packed_bpb.empty()) << pack.output;

  const auto eval = test::run_dartgolf("eval --artifact " + test::quoted(art));
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_EQ(last_match(eval.output, "final_int6_lzma_roundtrip_exact val_loss:[0-9.]+ val_bpb:([0-9.]+)"), packed_bpb);

  const auto json = nlohmann::json::parse(test::read_text(sub / "submission.json"));
  EXPECT_EQ(json["author"], "Ada Example");
  EXPECT_EQ(json["github_id"], "ada");
  EXPECT_EQ(json["blurb"], "short test");
  EXPECT_EQ(json["val_bpb"].get<double>(), std::stod(packed_bpb));
  const std::string total = last_match(pack.output, "Total submission size int6\\+lzma: ([0-9]+) bytes");
  EXPECT_EQ(json["bytes_total"].get<int64_t>(), std::stoll(total));
  EXPECT_EQ(json["bytes_total"].get<int64_t>() - json["bytes_code"].get<int64_t>(),
            static_cast<int64_t>(fs::file_size(art)));
  EXPECT_EQ(test::read_text(sub / "train.log"), test::read_text(run("train_log.txt")));
  EXPECT_TRUE(contains(test::read_text(sub / "README.md"), "int6+lzma"));

  const auto no_author = test::run_dartgolf("pack --checkpoint " + test::quoted(run("final_model.safetensors")) +
                                            " --out " + test::quoted(dir_->path() / "x") + " --submission " +
                                            test::quoted(dir_->path() / "y"));
  EXPECT_EQ(no_author.exit_code, 1);
  EXPECT_TRUE(contains(no_author.output, "give --author")) << no_author.output;
}

TEST_F(ArtifactCli, DamagedArtifactsAndMismatchedConfigsFailClearly) {
  const std::string good = test::read_text(run("final_model.int8.zlib"));
  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 0x04;
  test::write_text(dir_->path() / "flipped", flipped);
  test::write_text(dir_->path() / "truncated", good.substr(0, good.size() - 100));
  std::string version = good;
  version[8] = 7;
  test::write_text(dir_->path() / "version", version);
  const std::vector<std::pair<fs::path, std::string>> cases = {
      {dir_->path() / "flipped", "checksum mismatch"},
      {dir_->path() / "truncated", "truncated"},
      {dir_->path() / "version", "version 7 is not supported"},
      {run("final_model.safetensors"), "not a dartgolf artifact"},
      {dir_->path() / "missing", "no such file"},
  };
  for (const auto& [file, message] : cases) {
    const auto r = test::run_dartgolf("eval --artifact " + test::quoted(file));
    EXPECT_EQ(r.exit_code, 1) << file << ": " << r.output;
    EXPECT_TRUE(contains(r.output, message)) << file << ": expected \"" << message << "\" in " << r.output;
  }
  const auto mismatch = test::run_dartgolf("eval --artifact " + test::quoted(run("final_model.int8.zlib")) +
                                           " --set model_dim=64");
  EXPECT_EQ(mismatch.exit_code, 1);
  EXPECT_TRUE(contains(mismatch.output, "config mismatch")) << mismatch.output;
}

// A gpt of 12 x 512 whose weights are uniform noise: about 22 M parameters that int8 cannot compress below
// 16 MB, so the artifact alone is over the cap.
fs::path write_oversize_checkpoint(const fs::path& path) {
  RunConfigSources sources;
  sources.preset = "gpt";
  sources.assignments = {"num_layers=12"};
  const Config config = resolve_run_config(sources);
  const ParamLayout layout = model_layout(config);
  std::vector<float> host(static_cast<size_t>(layout.buffer_elements()));
  Rng rng(7);
  for (float& v : host) v = static_cast<float>(2.0 * rng.uniform() - 1.0);  // U(-1, 1): every int8 level alike (scale floor 1/127)
  std::vector<CheckpointTensor> tensors;
  for (const ParamSpec& spec : layout.specs()) tensors.push_back({spec.name, spec.shape, host.data() + spec.offset});
  CheckpointMeta meta;
  meta.config = config.values();
  save_checkpoint(path, tensors, meta);
  return path;
}

TEST_F(ArtifactCli, OversizeSubmissionsNeedAllowOversize) {
  const fs::path checkpoint = write_oversize_checkpoint(dir_->path() / "big.safetensors");
  const std::string base = "pack --checkpoint " + test::quoted(checkpoint) + " --out " + test::quoted(dir_->path() / "big.art");
  const auto refused = test::run_dartgolf(base);
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_TRUE(contains(refused.output, "over the challenge's cap of 16000000 bytes")) << refused.output;
  EXPECT_FALSE(fs::exists(dir_->path() / "big.art"));
  const auto allowed = test::run_dartgolf(base + " --allow-oversize");
  EXPECT_EQ(allowed.exit_code, 0) << allowed.output;
  EXPECT_TRUE(contains(allowed.output, "WARNING: over the cap")) << allowed.output;
  EXPECT_TRUE(fs::exists(dir_->path() / "big.art"));
}

TEST_F(ArtifactCli, ArtifactsOfEverySchemeLoadAndScore) {
  struct Scheme {
    const char* flags;
    const char* prefix;  // of the round-trip line eval prints
  };
  for (const Scheme& s : {Scheme{"--codec brotli --bits 6", "int6_brotli"},
                          Scheme{"--codec best --bits 5 --set artifact_clip=sdclip", "int5_"},
                          Scheme{"--codec lzma --bits 6 --set artifact_quantizer=gptq --set artifact_embed_bits=8"
                                 " --set gptq_calibration_tokens=512",
                                 "gptq_int6_lzma"},
                          Scheme{"--codec zstd --bits 4 --set artifact_quantizer=gptq --set artifact_clip=sdclip"
                                 " --set artifact_sdclip_k=6 --set gptq_calibration_tokens=256",
                                 "gptq_int4_zstd"}}) {
    SCOPED_TRACE(s.flags);
    const fs::path out = dir_->path() / "scheme.art";
    const auto pack = test::run_dartgolf("pack --checkpoint " + test::quoted(run("final_model.safetensors")) + " --out " +
                                         test::quoted(out) + " " + s.flags);
    ASSERT_EQ(pack.exit_code, 0) << pack.output;
    const bool gptq = contains(s.flags, "gptq");
    EXPECT_EQ(contains(pack.output, "gptq_calibration tokens:"), gptq) << pack.output;
    EXPECT_EQ(contains(pack.output, "gptq_tensors:1"), gptq) << pack.output;  // the embedding: the only per-row matrix
    const auto eval = test::run_dartgolf("eval --artifact " + test::quoted(out));
    ASSERT_EQ(eval.exit_code, 0) << eval.output;
    const std::string bpb = last_match(eval.output, std::string("final_") + s.prefix + "[a-z]*_roundtrip_exact val_loss:[0-9.]+ val_bpb:([0-9.]+)");
    ASSERT_FALSE(bpb.empty()) << eval.output;
    EXPECT_GT(std::stod(bpb), 0.0);
    EXPECT_LT(std::stod(bpb), 20.0);
  }
  // An embedding width of its own is stored per tensor.
  const fs::path mixed = dir_->path() / "mixed.art";
  ASSERT_EQ(test::run_dartgolf("pack --checkpoint " + test::quoted(run("final_model.safetensors")) + " --out " +
                               test::quoted(mixed) + " --bits 5 --set artifact_embed_bits=7").exit_code, 0);
  const auto inspect = test::run_dartgolf("inspect " + test::quoted(mixed));
  EXPECT_TRUE(contains(inspect.output, "tok_emb.weight [1024, 80] int_per_row bits:7")) << inspect.output;
}

int64_t number_after(const std::string& text, const std::string& label) {
  const std::string digits = last_match(text, label + "([0-9,]+)");
  std::string plain;
  for (char c : digits)
    if (c != ',') plain += c;
  return plain.empty() ? -1 : std::stoll(plain);
}

TEST_F(ArtifactCli, PlanMeasuresGroupsAndEstimatesWhatFits) {
  const auto plan = test::run_dartgolf("pack --plan --checkpoint " + test::quoted(run("final_model.safetensors")) +
                                       " --bits 6 --codec brotli");
  ASSERT_EQ(plan.exit_code, 0) << plan.output;
  EXPECT_TRUE(contains(plan.output, "measured")) << plan.output;
  EXPECT_TRUE(contains(plan.output, "| embedding int_per_row | 1 | 81,920 | int6 |")) << plan.output;
  EXPECT_TRUE(contains(plan.output, "| num_layers | model_dim | parameters |")) << plan.output;
  // The estimate for the checkpoint's own shape is close to the artifact pack then writes.
  const int64_t estimate = number_after(plan.output, "this shape at the scheme: estimated artifact ");
  const fs::path out = dir_->path() / "plan.art";
  const auto pack = test::run_dartgolf("pack --checkpoint " + test::quoted(run("final_model.safetensors")) + " --out " +
                                       test::quoted(out) + " --bits 6 --codec brotli");
  ASSERT_EQ(pack.exit_code, 0) << pack.output;
  const auto actual = static_cast<int64_t>(fs::file_size(out));
  EXPECT_NEAR(static_cast<double>(estimate), static_cast<double>(actual), 0.1 * static_cast<double>(actual))
      << plan.output;
  // Every listed shape fits the cap by the estimate.
  const std::regex total_column(R"(\| [0-9,]+ \| ([0-9,]+) \|\n)");
  for (auto it = std::sregex_iterator(plan.output.begin(), plan.output.end(), total_column);
       it != std::sregex_iterator(); ++it) {
    std::string plain;
    for (char c : (*it)[1].str())
      if (c != ',') plain += c;
    EXPECT_LE(std::stoll(plain), 16'000'000) << plan.output;
  }

  const auto preset = test::run_dartgolf("pack --plan --preset tiny --bits 6 --set artifact_clip=sdclip");
  ASSERT_EQ(preset.exit_code, 0) << preset.output;
  EXPECT_TRUE(contains(preset.output, "preset tiny")) << preset.output;
  EXPECT_TRUE(contains(preset.output, "estimated")) << preset.output;
  EXPECT_TRUE(contains(preset.output, "int6 sdclip12.85")) << preset.output;
}

TEST_F(ArtifactCli, InspectReportsCheckpointsAndArtifacts) {
  const auto a = test::run_dartgolf("inspect " + test::quoted(run("final_model.int8.zlib")));
  ASSERT_EQ(a.exit_code, 0) << a.output;
  EXPECT_TRUE(contains(a.output, "scheme: int8+zlib")) << a.output;
  EXPECT_TRUE(contains(a.output, "checksum ok")) << a.output;
  EXPECT_TRUE(contains(a.output, "tok_emb.weight [1024, 80] int_per_row bits:8")) << a.output;
  EXPECT_TRUE(contains(a.output, "blocks.0.resid_mix [2, 80] fp32")) << a.output;
  const auto c = test::run_dartgolf("inspect " + test::quoted(run("final_model.safetensors")));
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_TRUE(contains(c.output, "step 4")) << c.output;
  EXPECT_TRUE(contains(c.output, "blocks.0.attn.c_q.weight [80, 80] fp16")) << c.output;
}

TEST_F(ArtifactCli, QatRunsTrainOnTheArtifactWeights) {
  const auto r = test::run_dartgolf(train_args("qat", "--set iterations=4 --set qat_scope=all --set qat_start_fraction=0.5"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "qat:start step:2 qat_scope:all")) << r.output;
  EXPECT_FALSE(last_match(r.output, kExact).empty()) << r.output;
  const auto noisy = test::run_dartgolf(train_args("noisy", "--set iterations=2 --set qat_scope=all --set qat_noise=1"));
  ASSERT_EQ(noisy.exit_code, 0) << noisy.output;
  EXPECT_TRUE(contains(noisy.output, "qat:start step:0 qat_scope:all qat_start_fraction:0.000000 qat_noise:1"))
      << noisy.output;
}

}  // namespace
}  // namespace dg
