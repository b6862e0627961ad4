// dartgolf checkpoints: safetensors files of fp32 tensors named like train_gpt.py's state_dict
// ("tok_emb.weight", "blocks.0.attn.c_q.weight", ...), with metadata
//   "format": "dartgolf-checkpoint-v1", "config": the run config as JSON text, "step": decimal int,
// plus optional extra keys such as "train_tokens" and "val_bpb". See docs/checkpoint-format.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace dg {

inline constexpr const char* kCheckpointFormat = "dartgolf-checkpoint-v1";

// A resumable checkpoint also holds the optimizer's state as tensors named "optimizer.*"; loading
// the weights (eval, pack) passes over them.
inline bool is_training_state_tensor(const std::string& name) { return name.rfind("optimizer.", 0) == 0; }

// A view of one parameter (usually into the flat parameter buffer); `data` holds
// product(shape) floats and is read only while the file is written.
struct CheckpointTensor {
  std::string name;
  std::vector<int64_t> shape;
  const float* data;
};

struct CheckpointMeta {
  nlohmann::json config;
  int64_t step = 0;
  std::map<std::string, std::string> extra;  // "train_tokens", "val_bpb", ...; never format/config/step
};

// Writes atomically: a failure at any point (even half-way through the tensor data) leaves the
// previous file at `path` intact and no temporary file behind. The metadata carries the data's
// CRC-32 ("data_crc32"), which load_checkpoint verifies.
void save_checkpoint(const std::filesystem::path& path, const std::vector<CheckpointTensor>& tensors,
                     const CheckpointMeta& meta);

struct LoadedCheckpoint {
  CheckpointMeta meta;
  std::vector<std::string> names;  // in file order
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> tensors;  // name -> (shape, values)
};

// Throws "not a dartgolf checkpoint" when the format metadata is missing or different, and a clear
// error for a config that is not JSON, a step that is not an integer, or a tensor that is not F32.
LoadedCheckpoint load_checkpoint(const std::filesystem::path& path);

// Checks that `loaded` has exactly the expected names and shapes; the error lists every missing,
// unexpected and shape-mismatched name at once.
void check_checkpoint_layout(const LoadedCheckpoint& loaded,
                             const std::vector<std::pair<std::string, std::vector<int64_t>>>& expected,
                             const std::filesystem::path& path);

}  // namespace dg
