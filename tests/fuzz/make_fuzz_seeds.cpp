// Writes the fuzzers' seed corpus with dartgolf's own writers: one folder per target under the
// given directory, each holding small valid files (and a few near-misses) of that format, so the
// fuzzers start from inputs that get deep into each reader.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "artifact/artifact.h"
#include "core/fs.h"
#include "data/shard.h"
#include "model/settings.h"
#include "train/checkpoint.h"
#include "train/train_checkpoint.h"

namespace fs = std::filesystem;
using namespace dg;

namespace {

void shard_seeds(const fs::path& dir) {
  std::vector<uint16_t> tokens;
  for (int i = 0; i < 300; ++i) tokens.push_back(static_cast<uint16_t>((i * 37) % 1024));
  data::write_shard(dir / "tokens.bin", tokens);
  data::write_shard(dir / "empty.bin", {});
  tokens[7] = 5000;  // an id outside the vocab
  data::write_shard(dir / "bad_id.bin", tokens);
}

void checkpoint_seeds(const fs::path& dir) {
  std::vector<float> emb(64 * 8), gains(8, 1.0f);
  for (size_t i = 0; i < emb.size(); ++i) emb[i] = 0.01f * static_cast<float>(i % 17);
  CheckpointMeta meta;
  meta.config = nlohmann::json{{"model", "gpt"}, {"model_dim", 8}, {"vocab_size", 64}};
  meta.step = 12;
  meta.extra["val_bpb"] = "3.5";
  save_checkpoint(dir / "weights.safetensors", {{"tok_emb.weight", {64, 8}, emb.data()}, {"blocks.0.attn_scale", {8}, gains.data()}},
                  meta);
  TrainState state;
  state.progress.step = 12;
  state.optimizer_steps = 12;
  state.loader_shards = 1;
  state.run_id = "seed";
  state.preset = "tiny";
  state.model_rng = RngState{};
  meta.extra["train_state"] = train_state_to_json(state).dump();
  std::vector<float> moments(emb.size() + gains.size(), 0.5f);
  save_checkpoint(dir / "resumable.safetensors",
                  {{"tok_emb.weight", {64, 8}, emb.data()},
                   {"blocks.0.attn_scale", {8}, gains.data()},
                   {"optimizer.adam_m", {static_cast<int64_t>(moments.size())}, moments.data()}},
                  meta);
}

void artifact_seeds(const fs::path& dir) {
  artifact::Artifact a;
  a.config = nlohmann::json{{"model", "gpt"}, {"artifact_bits", 8}};
  a.meta = nlohmann::json{{"step", 3}};
  std::vector<float> big(300 * 240), small(16);
  for (size_t i = 0; i < big.size(); ++i) big[i] = 0.001f * static_cast<float>(static_cast<int>(i % 201) - 100);
  for (size_t i = 0; i < small.size(); ++i) small[i] = 0.5f - 0.03f * static_cast<float>(i);
  for (int bits : {8, 4}) {
    quant::QuantPolicy policy = quant::QuantPolicy::challenge_default();
    policy.bits = bits;
    a.tensors = {quant::encode_tensor("tok_emb.weight", {300, 240}, big.data(), policy),
                 quant::encode_tensor("blocks.0.attn_scale", {16}, small.data(), policy),
                 quant::encode_tensor("blocks.0.other", {4, 4}, small.data(), policy)};
    for (const std::string& codec : artifact::codec_names()) {
      const std::string bytes = artifact::serialize_artifact(a, artifact::parse_codec(codec), bits < 8);
      write_file_atomic(dir / ("int" + std::to_string(bits) + "." + codec), bytes);
    }
  }
}

void config_seeds(const fs::path& dir) {
  nlohmann::json settings = preset_overrides("dart");
  settings["blocks"] = nlohmann::json::array({{{"type", "tau_fusion"}, {"site", "loop_input"}, {"latent", 16}},
                                              {{"type", "daam"}, {"site", "mlp_input"}, {"groups", 4}},
                                              {{"type", "head_gate"}, {"site", "attn_output"}}});
  write_file_atomic(dir / "dart.json", settings.dump(2));
  write_file_atomic(dir / "small.json", R"({"iterations": 1e3, "matrix_lr": 0.02, "tie_embeddings": 1})");
}

void jsonl_seeds(const fs::path& dir) {
  write_file_atomic(dir / "docs.jsonl",
                    "{\"text\": \"First document.\\nWith two lines.\"}\n{\"text\": \"caf\\u00e9 \\ud83d\\ude00\"}\n\n"
                    "{\"text\": \"\", \"id\": 3}\n");
  write_file_atomic(dir / "bad.jsonl", "{\"text\": 5}\n[1, 2]\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_fuzz_seeds DIR\n");
    return 2;
  }
  const fs::path root = argv[1];
  try {
    for (const char* target : {"shard", "checkpoint", "artifact", "config", "jsonl"}) fs::create_directories(root / target);
    shard_seeds(root / "shard");
    checkpoint_seeds(root / "checkpoint");
    artifact_seeds(root / "artifact");
    config_seeds(root / "config");
    jsonl_seeds(root / "jsonl");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_fuzz_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
