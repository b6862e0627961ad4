// The artifact container: dartgolf's equivalent of train_gpt.py's final_model.int8.ptz. One file
// holding the quantized tensors, the run config and metadata, compressed with one codec and
// protected by a CRC-32. Byte layout: docs/artifact-format.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "artifact/codec.h"
#include "quant/quantizer.h"

namespace dg::artifact {

inline constexpr char kArtifactMagic[8] = {'D', 'G', 'O', 'L', 'F', 'A', 'R', 'T'};
inline constexpr uint32_t kArtifactVersion = 1;
inline constexpr int64_t kArtifactHeaderBytes = 32;
inline constexpr int64_t kArtifactTrailerBytes = 4;

struct Artifact {
  nlohmann::json config = nlohmann::json::object();  // the run config (flat object of settings)
  nlohmann::json meta = nlohmann::json::object();    // step, train_tokens, pre-quant val_bpb, ...
  std::vector<quant::EncodedTensor> tensors;
  // How it was stored (filled by parse_artifact; serialize_artifact takes these as arguments).
  Codec codec = Codec::Zlib;
  bool bitpacked = false;
  uint64_t raw_bytes = 0, file_bytes = 0;
};

struct ArtifactSizes {
  Codec codec = Codec::Zlib;  // the codec the file was written with (with `best`, the one that won)
  int64_t file_bytes = 0;     // the whole file: what counts toward the 16,000,000-byte cap
  int64_t raw_bytes = 0;      // the uncompressed body
  int64_t payload_bytes = 0;  // tensor data only (ints, scales, floats), as train_gpt.py's int8_payload_bytes
};

// bitpack: int tensors narrower than 8 bits are packed densely (else one byte per value).
// With codec `best`, the body is compressed with every codec and the smallest file is kept.
std::string serialize_artifact(const Artifact& artifact, const CodecChoice& codec, bool bitpack,
                               ArtifactSizes* sizes = nullptr);
// Every field is validated; a damaged, truncated or foreign file is an error naming `source`.
Artifact parse_artifact(std::string_view bytes, const std::string& source);

void write_artifact(const std::filesystem::path& path, std::string_view bytes);  // atomic
Artifact read_artifact(const std::filesystem::path& path);

// True when the file starts with the artifact magic (for `dartgolf inspect`).
bool looks_like_artifact(const std::filesystem::path& path);

}  // namespace dg::artifact
