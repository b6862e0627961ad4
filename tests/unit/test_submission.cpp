// The submission folder in the challenge's records format: submission.json has exactly the
// challenge's fields, in order, with the right JSON types; README.md carries the run's facts; the
// train log is copied.
#include <gtest/gtest.h>

#include <regex>

#include <nlohmann/json.hpp>

#include "artifact/submission.h"
#include "core/error.h"
#include "test_support.h"

namespace dg::artifact {
namespace {

SubmissionInfo sample_info(const std::filesystem::path& log) {
  SubmissionInfo info;
  info.author = "Ada Example";
  info.github_id = "ada-example";
  info.name = "dartgolf gpt 9x512 KV4";
  info.blurb = "A baseline reproduction.";
  info.date = "2026-03-18T14:56:29Z";
  info.val_loss = 2.072699314159;
  info.val_bpb = 1.224365704321;
  info.bytes_total = 15863489;
  info.bytes_code = 47642;
  info.bytes_artifact = 15815847;
  info.scheme = "int8+zlib";
  info.pre_quant_val_loss = 2.0606;
  info.pre_quant_val_bpb = 1.2172;
  info.config = {{"model", "gpt"}, {"num_layers", 9}, {"model_dim", 512}, {"vocab_size", 1024}};
  info.preset = "gpt";
  info.parameter_count = 17059912;
  info.steps = 13780;
  info.train_tokens = 7224688640;
  info.hardware = "cuda backend, 8xH100";
  info.artifact_path = log.parent_path() / "final_model.int8.zlib";
  info.code_archive.format = "xz";
  info.code_archive.file_name = "code.tar.xz";
  info.code_archive.bytes = "xz archive bytes";
  info.code_archive.source_bytes = 640123;
  info.code_archive.files = {{"CMakeLists.txt", 10}, {"src/a.cpp", 640113}};
  info.quantization = "gptq int6 sdclip12.85";
  info.train_log = log;
  return info;
}

TEST(Submission, JsonHasTheChallengeFieldsInOrderWithTheirTypes) {
  const nlohmann::ordered_json j = submission_json(sample_info("x.log"));
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"author", "github_id", "name", "blurb", "date", "val_loss", "val_bpb",
                                            "bytes_total", "bytes_code"}));
  for (const char* key : {"author", "github_id", "name", "blurb", "date"}) EXPECT_TRUE(j[key].is_string()) << key;
  EXPECT_TRUE(j["val_loss"].is_number_float());
  EXPECT_TRUE(j["val_bpb"].is_number_float());
  EXPECT_TRUE(j["bytes_total"].is_number_integer());
  EXPECT_TRUE(j["bytes_code"].is_number_integer());
  // Scores with the 8 decimals of the _exact log line.
  EXPECT_EQ(j["val_loss"].get<double>(), 2.07269931);
  EXPECT_EQ(j["val_bpb"].get<double>(), 1.2243657);
  EXPECT_NE(j.dump().find("\"val_bpb\":1.2243657"), std::string::npos) << j.dump();
}

TEST(Submission, DatesAreUtcIso8601) {
  EXPECT_TRUE(std::regex_match(utc_now_iso8601(), std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)")));
}

TEST(Submission, FolderHoldsReadmeJsonAndTheTrainLog) {
  test::TempDir dir;
  test::write_text(dir / "run/train_log.txt", "step:1/1 val_loss:1.0 val_bpb:2.0\n");
  test::write_text(dir / "run/final_model.int8.zlib", "artifact bytes");
  const SubmissionInfo info = sample_info(dir / "run/train_log.txt");
  write_submission(dir / "records/2026_ada", info);
  // The two counted files sit in the folder.
  EXPECT_EQ(test::read_text(dir / "records/2026_ada/final_model.int8.zlib"), "artifact bytes");
  EXPECT_EQ(test::read_text(dir / "records/2026_ada/code.tar.xz"), "xz archive bytes");
  EXPECT_EQ(test::read_text(dir / "records/2026_ada/train.log"), "step:1/1 val_loss:1.0 val_bpb:2.0\n");
  const auto json = nlohmann::json::parse(test::read_text(dir / "records/2026_ada/submission.json"));
  EXPECT_EQ(json["author"], "Ada Example");
  EXPECT_EQ(json["bytes_total"], 15863489);
  const std::string readme = test::read_text(dir / "records/2026_ada/README.md");
  for (const char* fact : {"1.22436570", "17,059,912 parameters", "Steps: 13,780", "7,224,688,640",
                           "cuda backend, 8xH100", "15,815,847 bytes", "47,642 bytes", "15,863,489 bytes",
                           "MODEL_DIM=512", "+0.00716570", "final_model.int8.zlib", "code.tar.xz",
                           "2 files", "640,123 bytes of source", "gptq int6 sdclip12.85",
                           "build/dartgolf_submission eval --artifact final_model.int8.zlib"})
    EXPECT_NE(readme.find(fact), std::string::npos) << fact << " missing from\n" << readme;

  SubmissionInfo no_log = info;
  no_log.train_log = dir / "missing.txt";
  try {
    write_submission(dir / "other", no_log);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--train-log"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dg::artifact
