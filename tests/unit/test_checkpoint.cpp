// Checkpoints: save→load gives back exactly what was saved, foreign files are refused, layout
// mismatches are explained, and a failed save never damages the previous checkpoint.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "test_support.h"
#include "train/checkpoint.h"
#include "train/safetensors.h"

namespace dg {
namespace {
namespace fs = std::filesystem;
using test::TempDir;
using Layout = std::vector<std::pair<std::string, std::vector<int64_t>>>;

std::vector<float> ramp(size_t count, float start) {
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i) values[i] = start + 0.37f * static_cast<float>(i) * (i % 2 ? -1.0f : 1.0f);
  return values;
}

using test::error_of;

bool contains(const std::string& text, const std::string& fragment) { return text.find(fragment) != std::string::npos; }

struct SmallModel {
  std::vector<float> emb = ramp(8 * 4, -1.0f);
  std::vector<float> mix = {1.0f, 0.0f, -0.0f, std::numeric_limits<float>::denorm_min()};
  std::vector<float> gain = {1.5f};
  std::vector<CheckpointTensor> tensors() const {
    return {{"tok_emb.weight", {8, 4}, emb.data()}, {"blocks.0.resid_mix", {2, 2}, mix.data()}, {"skip_weights", {1}, gain.data()}};
  }
  Layout layout() const { return {{"tok_emb.weight", {8, 4}}, {"blocks.0.resid_mix", {2, 2}}, {"skip_weights", {1}}}; }
};

CheckpointMeta sample_meta() {
  CheckpointMeta meta;
  meta.config = {{"model_dim", 512}, {"matrix_lr", 0.04}, {"preset", "gpt"}, {"tie_embeddings", true}};
  meta.step = 1200;
  meta.extra = {{"train_tokens", "629145600"}, {"val_bpb", "1.2244"}};
  return meta;
}

TEST(Checkpoint, SaveThenLoadGivesBackTheSameTensorsAndMetadata) {
  TempDir dir;
  const SmallModel model;
  const CheckpointMeta meta = sample_meta();
  save_checkpoint(dir / "ckpt.safetensors", model.tensors(), meta);
  const LoadedCheckpoint loaded = load_checkpoint(dir / "ckpt.safetensors");

  EXPECT_EQ(loaded.meta.config, meta.config);
  EXPECT_EQ(loaded.meta.step, 1200);
  EXPECT_EQ(loaded.meta.extra, meta.extra);
  EXPECT_EQ(loaded.names, (std::vector<std::string>{"tok_emb.weight", "blocks.0.resid_mix", "skip_weights"}));
  for (const auto& tensor : model.tensors()) {
    SCOPED_TRACE(tensor.name);
    const auto& [shape, values] = loaded.tensors.at(tensor.name);
    EXPECT_EQ(shape, tensor.shape);
    size_t count = 1;
    for (int64_t d : shape) count *= static_cast<size_t>(d);
    ASSERT_EQ(values.size(), count);
    EXPECT_EQ(std::memcmp(values.data(), tensor.data, count * sizeof(float)), 0) << "values must be bit-exact";
  }
  EXPECT_NO_THROW(check_checkpoint_layout(loaded, model.layout(), dir / "ckpt.safetensors"));
}

TEST(Checkpoint, FileIsPlainSafetensorsWithTheDocumentedMetadata) {
  TempDir dir;
  const SmallModel model;
  save_checkpoint(dir / "ckpt.safetensors", model.tensors(), sample_meta());
  const SafetensorsFile file = read_safetensors(dir / "ckpt.safetensors");
  EXPECT_EQ(file.metadata.at("format"), "dartgolf-checkpoint-v1");
  EXPECT_EQ(file.metadata.at("step"), "1200");
  EXPECT_EQ(nlohmann::json::parse(file.metadata.at("config")), sample_meta().config);
  EXPECT_EQ(file.metadata.at("train_tokens"), "629145600");
  for (const auto& tensor : file.tensors) EXPECT_EQ(tensor.dtype, "F32") << tensor.name;
}

TEST(Checkpoint, RefusesFilesThatAreNotDartgolfCheckpoints) {
  TempDir dir;
  SafetensorsFile foreign;
  foreign.tensors.push_back({"w", "F32", {1}, std::string(4, '\0')});
  write_safetensors(dir / "plain.safetensors", foreign);
  std::string message = error_of([&] { load_checkpoint(dir / "plain.safetensors"); });
  EXPECT_TRUE(contains(message, "not a dartgolf checkpoint")) << message;
  EXPECT_TRUE(contains(message, (dir / "plain.safetensors").string())) << message;

  foreign.metadata = {{"format", "pt"}, {"config", "{}"}, {"step", "1"}};
  write_safetensors(dir / "other.safetensors", foreign);
  message = error_of([&] { load_checkpoint(dir / "other.safetensors"); });
  EXPECT_TRUE(contains(message, "not a dartgolf checkpoint (format is \"pt\"")) << message;
}

TEST(Checkpoint, ReportsBrokenMetadataAndNonFloatTensors) {
  TempDir dir;
  SafetensorsFile file;
  file.tensors.push_back({"w", "F32", {1}, std::string(4, '\0')});
  file.metadata = {{"format", "dartgolf-checkpoint-v1"}, {"config", "{\"a\": "}, {"step", "3"}};
  write_safetensors(dir / "config.safetensors", file);
  EXPECT_TRUE(contains(error_of([&] { load_checkpoint(dir / "config.safetensors"); }), "\"config\" is not valid JSON"));

  file.metadata = {{"format", "dartgolf-checkpoint-v1"}, {"config", "{}"}, {"step", "12x"}};
  write_safetensors(dir / "step.safetensors", file);
  EXPECT_TRUE(contains(error_of([&] { load_checkpoint(dir / "step.safetensors"); }), "\"step\" is \"12x\""));

  file.metadata = {{"format", "dartgolf-checkpoint-v1"}, {"config", "{}"}};
  write_safetensors(dir / "nostep.safetensors", file);
  EXPECT_TRUE(contains(error_of([&] { load_checkpoint(dir / "nostep.safetensors"); }), "no \"step\""));

  file.metadata = {{"format", "dartgolf-checkpoint-v1"}, {"config", "{}"}, {"step", "3"}};
  file.tensors.push_back({"ids", "I32", {1}, std::string(4, '\0')});
  write_safetensors(dir / "dtype.safetensors", file);
  const std::string message = error_of([&] { load_checkpoint(dir / "dtype.safetensors"); });
  EXPECT_TRUE(contains(message, "tensor \"ids\" is I32")) << message;
}

TEST(Checkpoint, RefusesReservedExtraKeys) {
  TempDir dir;
  const SmallModel model;
  CheckpointMeta meta = sample_meta();
  meta.extra["step"] = "5";
  EXPECT_TRUE(contains(error_of([&] { save_checkpoint(dir / "c.safetensors", model.tensors(), meta); }), "reserved key \"step\""));
  EXPECT_FALSE(fs::exists(dir / "c.safetensors"));
}

TEST(CheckpointLayout, ListsMissingUnexpectedAndMismatchedNames) {
  TempDir dir;
  const SmallModel model;
  const fs::path path = dir / "ckpt.safetensors";
  save_checkpoint(path, model.tensors(), sample_meta());
  const LoadedCheckpoint loaded = load_checkpoint(path);

  const Layout expected{{"tok_emb.weight", {8, 4}}, {"blocks.0.resid_mix", {2, 512}}, {"blocks.0.attn.c_q.weight", {512, 512}}};
  const std::string message = error_of([&] { check_checkpoint_layout(loaded, expected, path); });
  EXPECT_TRUE(contains(message, path.string())) << message;
  EXPECT_TRUE(contains(message, "missing (1): blocks.0.attn.c_q.weight [512, 512]")) << message;
  EXPECT_TRUE(contains(message, "unexpected (1): skip_weights [1]")) << message;
  EXPECT_TRUE(contains(message, "shape mismatch (1): blocks.0.resid_mix (checkpoint [2, 2], model [2, 512])")) << message;
  EXPECT_FALSE(contains(message, "tok_emb.weight")) << "a matching tensor is not reported: " << message;
}

TEST(CheckpointLayout, LongListsAreCut) {
  TempDir dir;
  const SmallModel model;
  const fs::path path = dir / "ckpt.safetensors";
  save_checkpoint(path, model.tensors(), sample_meta());
  Layout expected = model.layout();
  for (int i = 0; i < 25; ++i) expected.push_back({"blocks." + std::to_string(i) + ".mlp.fc.weight", {1024, 512}});
  const std::string message = error_of([&] { check_checkpoint_layout(load_checkpoint(path), expected, path); });
  EXPECT_TRUE(contains(message, "missing (25): blocks.0.mlp.fc.weight")) << message;
  EXPECT_TRUE(contains(message, "... and 15 more")) << message;
  EXPECT_FALSE(contains(message, "blocks.24.mlp.fc.weight")) << message;
}

TEST(Checkpoint, FailedSaveHalfWayKeepsTheOldCheckpointAndLeavesNoTemporary) {
  TempDir dir;
  const fs::path path = dir / "ckpt.safetensors";
  const SmallModel model;
  save_checkpoint(path, model.tensors(), sample_meta());
  const std::string before = test::read_text(path);

  // The first tensor's bytes are streamed into the temporary file before the null one is reached.
  const std::vector<float> big = ramp(1 << 16, 2.0f);
  const std::vector<CheckpointTensor> broken{{"tok_emb.weight", {256, 256}, big.data()}, {"skip_weights", {1}, nullptr}};
  CheckpointMeta meta = sample_meta();
  meta.step = 2400;
  const std::string message = error_of([&] { save_checkpoint(path, broken, meta); });
  EXPECT_TRUE(contains(message, "tensor \"skip_weights\" has no data")) << message;

  EXPECT_EQ(test::read_text(path), before) << "the old checkpoint must be untouched";
  EXPECT_EQ(load_checkpoint(path).meta.step, 1200);
  std::vector<std::string> entries;
  for (const auto& entry : fs::directory_iterator(dir.path())) entries.push_back(entry.path().filename().string());
  EXPECT_EQ(entries, (std::vector<std::string>{"ckpt.safetensors"})) << "no temporary file may remain";
}

}  // namespace
}  // namespace dg
