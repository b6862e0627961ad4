// `dartgolf inspect` for model files: a checkpoint (.safetensors) or an artifact. Reports are text,
// "key: value" lines and one line per tensor, like the shard and tokenizer reports.
#pragma once

#include <filesystem>
#include <string>

namespace dg::artifact {

enum class ModelFileKind { checkpoint, artifact, other };

// An artifact by its magic; a checkpoint by the .safetensors name (a damaged one then reports its
// real problem); anything else is left to the data inspector.
ModelFileKind detect_model_file(const std::filesystem::path& file);

// Format version, codec, sizes, checksum status, the stored config's shape, metadata, and per tensor
// its encoding, bit width and stored bytes.
std::string inspect_artifact(const std::filesystem::path& file);
// Step, metadata, shape settings, and per tensor its shape and how `pack` would store it.
std::string inspect_checkpoint(const std::filesystem::path& file);

}  // namespace dg::artifact
