#include "artifact/inspect_model_files.h"

#include <sstream>

#include "artifact/artifact.h"
#include "artifact/bitpack.h"
#include "artifact/model_artifact.h"
#include "core/log.h"
#include "model/settings.h"
#include "train/checkpoint.h"
#include "train/model_io.h"

namespace dg::artifact {
namespace fs = std::filesystem;

namespace {

int64_t stored_bytes(const quant::EncodedTensor& t, bool bitpacked) {
  switch (t.encoding) {
    case quant::Encoding::Fp32: return 4 * t.numel();
    case quant::Encoding::Fp16: return 2 * t.numel();
    case quant::Encoding::IntPerRow:
    case quant::Encoding::IntPerTensor: {
      const int64_t scales = t.encoding == quant::Encoding::IntPerRow ? 2 * t.rows() : 4;
      return scales + (bitpacked && t.bits < 8 ? packed_size(t.numel(), t.bits) : t.numel());
    }
  }
  return 0;
}

void shape_settings(std::ostringstream& out, const nlohmann::json& config) {
  out << "config:";
  for (const char* key : {"model", "vocab_size", "num_layers", "model_dim", "num_heads", "num_kv_heads", "mlp_mult",
                          "tie_embeddings", "train_seq_len"})
    if (config.contains(key)) out << " " << key << "=" << (config[key].is_string() ? config[key].get<std::string>() : config[key].dump());
  out << "\n";
}

}  // namespace

ModelFileKind detect_model_file(const fs::path& file) {
  if (looks_like_artifact(file)) return ModelFileKind::artifact;
  if (file.extension() == ".safetensors") return ModelFileKind::checkpoint;
  return ModelFileKind::other;
}

std::string inspect_artifact(const fs::path& file) {
  const Artifact a = read_artifact(file);  // validates everything, checksum included
  const ArtifactSettings stored = stored_settings(a);
  std::ostringstream out;
  out << "artifact: " << file.string() << "\n";
  out << "format: dartgolf artifact version " << kArtifactVersion << ", checksum ok\n";
  out << "scheme: " << stored.scheme() << (a.bitpacked ? " (narrow ints bit-packed)" : "") << "\n";
  out << "bytes: " << a.file_bytes << " (uncompressed body " << a.raw_bytes << ")\n";
  shape_settings(out, a.config);
  for (auto& [key, value] : a.meta.items())
    out << "meta " << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
  int64_t params = 0;
  for (const quant::EncodedTensor& t : a.tensors) params += t.numel();
  out << "tensors: " << a.tensors.size() << ", parameters: " << params << "\n";
  for (const quant::EncodedTensor& t : a.tensors)
    out << "  " << t.name << " " << format_shape(t.shape) << " " << quant::encoding_name(t.encoding) << " bits:" << t.bits
        << " stored_bytes:" << stored_bytes(t, a.bitpacked) << "\n";
  return out.str();
}

std::string inspect_checkpoint(const fs::path& file) {
  const LoadedCheckpoint c = load_checkpoint(file);
  const Config config = checkpoint_config(c, file);
  const quant::QuantPolicy policy = quant::QuantPolicy::from_config(config);
  std::ostringstream out;
  out << "checkpoint: " << file.string() << "\n";
  out << "format: " << kCheckpointFormat << ", step " << c.meta.step << "\n";
  shape_settings(out, config.values());
  for (const auto& [key, value] : c.meta.extra) out << "meta " << key << ": " << value << "\n";
  int64_t params = 0;
  for (const std::string& name : c.names) params += static_cast<int64_t>(c.tensors.at(name).second.size());
  out << "tensors: " << c.names.size() << ", parameters: " << params << " (fp32, " << 4 * params << " bytes)\n";
  out << "pack would store (artifact_bits=" << policy.bits << "):\n";
  for (const std::string& name : c.names) {
    const auto& shape = c.tensors.at(name).first;
    const quant::Encoding e = quant::choose_encoding(name, shape, policy);
    out << "  " << name << " " << format_shape(shape) << " " << quant::encoding_name(e)
        << (e == quant::Encoding::IntPerRow || e == quant::Encoding::IntPerTensor ? " bits:" + std::to_string(policy.bits) : "") << "\n";
  }
  return out.str();
}

}  // namespace dg::artifact
