// A submission folder is self-sufficient: train on tinyshakespeare, `pack --submission` with GPTQ
// int6 and the best codec, then in an empty folder unpack ONLY the counted code archive with
// `tar`, build it with CMake, and re-score the counted artifact with the rebuilt program: the
// val_bpb must equal submission.json's. Also, on those trained weights, GPTQ's output error is below
// round-to-nearest's for every matrix it quantizes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <regex>

#include "core/fs.h"
#include "model/model_factory.h"
#include "quant/fp16.h"
#include "quant/gptq.h"
#include "quant/quantizer.h"
#include "test_support.h"
#include "train/checkpoint.h"
#include "train/gptq_calibration.h"
#include "train/model_io.h"

namespace dg {
namespace {
namespace fs = std::filesystem;

std::string last_match(const std::string& text, const std::string& pattern) {
  std::string last;
  const std::regex re(pattern);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it) last = (*it)[1];
  return last;
}

class SubmissionRebuild : public ::testing::Test {
 protected:
  // d=192: the embedding and the MLP matrices (384 x 192) are per-row ints, so GPTQ has work.
  static void SetUpTestSuite() {
    const auto corpus = test::shared_data("tinyshakespeare.txt");
    tokenizer_ = test::shared_data("fineweb_1024_bpe.model");
    if (!fs::exists(corpus) || !fs::exists(tokenizer_)) return;
    // Under the build folder: a rebuild whose paths relative to its build folder match the main
    // build's can reuse ccache's objects.
    dir_ = new fs::path(test::repo_root() / "build" / ("submission_rebuild_test_" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_);
    const auto prep = test::run_dartgolf("prepare --input " + test::quoted(corpus) + " --out " + test::quoted(*dir_ / "data") +
                                         " --tokenizer " + test::quoted(tokenizer_));
    setup_ok_ = prep.exit_code == 0;
    setup_output_ = prep.output;
    if (!setup_ok_) return;
    const auto train = test::run_dartgolf(
        "train --preset tiny --out " + test::quoted(*dir_ / "run") + " --set data_path=" + test::quoted(*dir_ / "data") +
        " --set tokenizer_path=" + test::quoted(tokenizer_) +
        " --set model_dim=192 --set num_heads=4 --set num_kv_heads=2 --set iterations=40 --set val_loss_every=0"
        " --set val_max_tokens=8192 --set threads=2");
    setup_ok_ = train.exit_code == 0;
    setup_output_ = train.output;
  }
  static void TearDownTestSuite() {
    if (dir_) fs::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override {
    if (!dir_) GTEST_SKIP() << "needs ../shared/data (tinyshakespeare.txt, fineweb_1024_bpe.model)";
    ASSERT_TRUE(setup_ok_) << setup_output_;
  }
  static fs::path checkpoint() { return *dir_ / "run/final_model.safetensors"; }

  static inline fs::path* dir_ = nullptr;
  static inline fs::path tokenizer_;
  static inline bool setup_ok_ = false;
  static inline std::string setup_output_;
};

TEST_F(SubmissionRebuild, TheCodeArchiveAloneRebuildsTheProgramThatReScoresTheArtifact) {
  const fs::path sub = *dir_ / "submission";
  const auto pack = test::run_dartgolf("pack --checkpoint " + test::quoted(checkpoint()) + " --submission " +
                                       test::quoted(sub) + " --author Test --github-id test --codec best --bits 6"
                                       " --set artifact_quantizer=gptq --set artifact_clip=sdclip --set artifact_embed_bits=8"
                                       " --set gptq_calibration_tokens=16384");
  ASSERT_EQ(pack.exit_code, 0) << pack.output;
  EXPECT_NE(pack.output.find("gptq_calibration tokens:16384"), std::string::npos) << pack.output;
  const auto json = nlohmann::json::parse(test::read_text(sub / "submission.json"));

  // The folder: exactly one artifact and one code archive, and bytes_total is their sum.
  fs::path artifact, archive;
  for (const auto& e : fs::directory_iterator(sub)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("final_model.", 0) == 0) artifact = e.path();
    if (name.rfind("code.tar.", 0) == 0) archive = e.path();
  }
  ASSERT_FALSE(artifact.empty() || archive.empty()) << pack.output;
  EXPECT_EQ(json["bytes_code"].get<int64_t>(), static_cast<int64_t>(fs::file_size(archive)));
  EXPECT_EQ(json["bytes_total"].get<int64_t>(), static_cast<int64_t>(fs::file_size(archive) + fs::file_size(artifact)));

  // Unpack with tar alone, in an empty folder, and build with the documented commands.
  const fs::path code = *dir_ / "unpacked";
  fs::create_directories(code);
  const std::string filter = archive.extension() == ".br" ? " --use-compress-program=brotli"
                             : archive.extension() == ".zst" ? " --use-compress-program=zstd" : "";
  const auto untar = test::run_command("tar -xf " + test::quoted(archive) + filter + " -C " + test::quoted(code));
  ASSERT_EQ(untar.exit_code, 0) << untar.output;
  const auto listed = test::run_dartgolf("pack --list-code-files");
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  int64_t unpacked_files = 0;
  for (const auto& e : fs::recursive_directory_iterator(code)) unpacked_files += e.is_regular_file();
  EXPECT_NE(listed.output.find(" files:" + std::to_string(unpacked_files) + " "), std::string::npos)
      << unpacked_files << " files unpacked\n" << listed.output;
  EXPECT_FALSE(fs::exists(code / "src/cli/main.cpp"));
  EXPECT_FALSE(fs::exists(code / "tests"));
  const std::string launcher = test::run_command("command -v ccache").exit_code == 0 ? " -DCMAKE_CXX_COMPILER_LAUNCHER=ccache" : "";
  const auto configure = test::run_command("cmake -S " + test::quoted(code) + " -B " + test::quoted(code / "build") +
                                           " -G Ninja -DCMAKE_BUILD_TYPE=Release" + launcher + " 2>&1");
  ASSERT_EQ(configure.exit_code, 0) << configure.output;
  const auto build = test::run_command("cmake --build " + test::quoted(code / "build") + " -j2 2>&1 | tail -30");
  ASSERT_TRUE(fs::exists(code / "build/dartgolf_submission")) << build.output;

  // Re-score the counted artifact with the rebuilt program.
  const auto eval = test::run_command(test::quoted(code / "build/dartgolf_submission") + " eval --artifact " +
                                      test::quoted(artifact) + " --data " + test::quoted(*dir_ / "data") +
                                      " --tokenizer " + test::quoted(tokenizer_) + " 2>&1");
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  const std::string bpb = last_match(eval.output, "_roundtrip_exact val_loss:[0-9.]+ val_bpb:([0-9.]+)");
  ASSERT_FALSE(bpb.empty()) << eval.output;
  EXPECT_EQ(std::stod(bpb), json["val_bpb"].get<double>()) << eval.output;
  // The rebuilt program counts the same code bytes from its own link map.
  const auto rebuilt_listing = test::run_command(test::quoted(code / "build/dartgolf_submission") + " --help 2>&1");
  EXPECT_NE(rebuilt_listing.output.find("train"), std::string::npos) << rebuilt_listing.output;
  EXPECT_EQ(rebuilt_listing.output.find("prepare"), std::string::npos) << rebuilt_listing.output;
}

TEST_F(SubmissionRebuild, GptqOutputErrorIsBelowRoundToNearestOnTrainedWeights) {
  const LoadedCheckpoint loaded = load_checkpoint(checkpoint());
  Config config = checkpoint_config(loaded, checkpoint());
  config.set("gptq_calibration_tokens=16384", "test");
  const ParamLayout layout = model_layout(config);
  std::vector<float> host(static_cast<size_t>(layout.buffer_elements()), 0.0f);
  for (const ParamSpec& spec : layout.specs()) {
    const auto& values = loaded.tensors.at(spec.name).second;
    std::copy(values.begin(), values.end(), host.begin() + spec.offset);
  }
  const GptqCalibration calibration = calibrate_gptq(config, host.data(), *dir_ / "data");
  ASSERT_GE(calibration.hessians.size(), 5u);  // the embedding and 2 matrices per block
  for (int bits : {6, 4}) {
    for (const quant::ClipSpec& clip : {quant::ClipSpec{}, quant::ClipSpec{quant::ClipRule::SdClip, 12.85}}) {
      for (const auto& [name, h] : calibration.hessians) {
        const ParamSpec& spec = layout.find(name);
        const int64_t rows = spec.shape[0], cols = spec.shape[1];
        const float* w = host.data() + spec.offset;
        std::vector<int8_t> q_rtn(static_cast<size_t>(rows * cols)), q_gptq(q_rtn.size());
        std::vector<uint16_t> s_rtn(static_cast<size_t>(rows)), s_gptq(s_rtn.size());
        quant::quantize_per_row(w, rows, cols, bits, clip, q_rtn.data(), s_rtn.data());
        quant::gptq_quantize_per_row(w, rows, cols, bits, clip, h.data(), quant::GptqOptions{}, q_gptq.data(), s_gptq.data());
        EXPECT_EQ(s_rtn, s_gptq) << name;  // same scales: only the rounding differs
        std::vector<float> scales(static_cast<size_t>(rows));
        for (int64_t r = 0; r < rows; ++r) scales[static_cast<size_t>(r)] = quant::half_bits_to_float(s_rtn[static_cast<size_t>(r)]);
        const double rtn = quant::hessian_error(w, rows, cols, h.data(), q_rtn.data(), scales.data());
        const double gptq = quant::hessian_error(w, rows, cols, h.data(), q_gptq.data(), scales.data());
        EXPECT_LT(gptq, rtn) << name << " int" << bits << " " << quant::clip_rule_name(clip.rule);
      }
    }
  }
}

}  // namespace
}  // namespace dg
