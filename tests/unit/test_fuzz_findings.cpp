// Inputs the fuzzers (scripts/fuzz.sh) found to crash a reader, kept as regression tests: each must
// now be refused with a dg::Error naming the file, never end the process.
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"
#include "data/documents.h"
#include "model/settings.h"
#include "test_support.h"
#include "train/checkpoint.h"
#include "train/safetensors.h"
#include "train/train_checkpoint.h"

namespace dg {
namespace {

std::string error_text(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// fuzz_config: a number beyond double's range ended dartgolf with "terminate called after throwing
// an instance of 'nlohmann::...::out_of_range'" (only parse_error was caught).
TEST(FuzzFindings, ConfigNumberOverflow) {
  test::TempDir dir;
  test::write_text(dir / "config.json", "{\n  \"adam_eps\": 1e2000,\n  \"logit_softcap\": 30.0\n}\n");
  Config config(default_settings());
  const std::string message = error_text([&] { config.merge_file(dir / "config.json"); });
  EXPECT_NE(message.find("config.json: not valid JSON: number overflow parsing '1e2000'"), std::string::npos)
      << message;
}

// fuzz_jsonl: the same overflow inside a .jsonl line given to `dartgolf prepare`.
TEST(FuzzFindings, JsonlNumberOverflow) {
  test::TempDir dir;
  test::write_text(dir / "corpus.jsonl", "{\"text\": \"ok\"}\n22222222222222222222222e2222\n");
  const std::string message =
      error_text([&] { data::for_each_document(dir / "corpus.jsonl", [](std::string&&) {}); });
  EXPECT_NE(message.find("corpus.jsonl:2: not valid JSON (number overflow"), std::string::npos) << message;
}

// The same class of input wherever dartgolf parses JSON from a file: a safetensors header and a
// checkpoint's stored config.
TEST(FuzzFindings, HeaderAndStoredConfigNumberOverflow) {
  test::TempDir dir;
  const std::string header = R"({"w": {"dtype": "F32", "shape": [1e999], "data_offsets": [0, 4]}})";
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[static_cast<size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  test::write_text(dir / "a.safetensors", file + header + std::string(4, '\0'));
  EXPECT_NE(error_text([&] { read_safetensors(dir / "a.safetensors"); }).find("header is not valid JSON: number overflow"),
            std::string::npos);

  float w = 1.0f;
  write_safetensors(dir / "c.safetensors", {{"w", "F32", {1}, &w}},
                    {{"format", kCheckpointFormat}, {"config", "{\"adam_eps\": 1e999}"}, {"step", "1"}});
  EXPECT_NE(error_text([&] { load_checkpoint(dir / "c.safetensors"); })
                .find("checkpoint metadata \"config\" is not valid JSON: number overflow"),
            std::string::npos);
}

// fuzz_checkpoint: a resumable checkpoint whose random-generator word is 16 characters but not hex
// ended the process in std::stoull ("terminate called ... std::invalid_argument").
TEST(FuzzFindings, TrainStateWithANonHexWord) {
  TrainState state;
  state.model_rng = RngState{};
  nlohmann::json j = train_state_to_json(state);
  j["model_rng"]["words"][2] = "0000zzzz00000000";
  EXPECT_NE(error_text([&] { train_state_from_json(j, "c.safetensors"); })
                .find("c.safetensors: train_state rng word is not a 16-digit hex word"),
            std::string::npos);
}

}  // namespace
}  // namespace dg
