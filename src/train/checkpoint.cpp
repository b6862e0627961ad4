#include "train/checkpoint.h"

#include <charconv>
#include <cstdio>
#include <cstring>
#include <set>
#include <sstream>

#include "core/checksum.h"
#include "core/error.h"
#include "core/text.h"
#include "core/log.h"
#include "train/safetensors.h"

namespace dg {
namespace {

constexpr const char* kFormatKey = "format";
constexpr const char* kConfigKey = "config";
constexpr const char* kStepKey = "step";
constexpr const char* kCrcKey = "data_crc32";  // CRC-32 of the data section, 8 hex digits
// A layout error names at most this many tensors per category, then counts the rest, so that a
// checkpoint of a different preset gives a readable message rather than a hundred lines.
constexpr size_t kMaxNamesListed = 10;

bool is_reserved_key(const std::string& key) {
  return key == kFormatKey || key == kConfigKey || key == kStepKey || key == kCrcKey;
}

std::string crc_hex(uint32_t crc) {
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", crc);
  return hex;
}

int64_t parse_step(const std::string& text, const std::filesystem::path& path) {
  int64_t step = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, step);
  DG_CHECK(!text.empty() && ec == std::errc() && ptr == end && step >= 0,
           path.string() << ": checkpoint metadata \"step\" is \"" << text << "\", expected a non-negative integer");
  return step;
}

void append_list(std::ostringstream& out, const char* label, const std::vector<std::string>& items) {
  if (items.empty()) return;
  out << "\n  " << label << " (" << items.size() << "): ";
  for (size_t i = 0; i < items.size() && i < kMaxNamesListed; ++i) out << (i ? ", " : "") << items[i];
  if (items.size() > kMaxNamesListed) out << ", ... and " << items.size() - kMaxNamesListed << " more";
}

}  // namespace

void save_checkpoint(const std::filesystem::path& path, const std::vector<CheckpointTensor>& tensors,
                     const CheckpointMeta& meta) {
  DG_CHECK(meta.step >= 0, path.string() << ": checkpoint step " << meta.step << " is negative");
  std::map<std::string, std::string> metadata;
  for (const auto& [key, value] : meta.extra) {
    DG_CHECK(!is_reserved_key(key), path.string() << ": checkpoint extra metadata cannot use the reserved key \"" << key << "\"");
    metadata[key] = value;
  }
  metadata[kFormatKey] = kCheckpointFormat;
  metadata[kConfigKey] = meta.config.dump();
  metadata[kStepKey] = std::to_string(meta.step);

  // Views, not copies: the tensors stream straight from the caller's (parameter) memory. The data
  // section is the tensors back to back in this order, so its checksum is known before writing.
  std::vector<TensorBytesView> views;
  views.reserve(tensors.size());
  uint32_t crc = 0;
  for (const auto& tensor : tensors) {
    views.push_back({tensor.name, "F32", tensor.shape, tensor.data});
    int64_t numel = 1;
    for (int64_t d : tensor.shape) numel *= d;
    // A missing tensor fails inside the write below, which keeps the previous file.
    if (numel > 0 && tensor.data != nullptr) crc = crc32_update(crc, tensor.data, static_cast<size_t>(numel) * sizeof(float));
  }
  metadata[kCrcKey] = crc_hex(crc);
  write_safetensors(path, views, metadata);
}

LoadedCheckpoint load_checkpoint(const std::filesystem::path& path) {
  SafetensorsFile file = read_safetensors(path);
  const auto format = file.metadata.find(kFormatKey);
  DG_CHECK(format != file.metadata.end(),
           path.string() << ": not a dartgolf checkpoint (a safetensors file without \"format\" metadata; expected \""
                         << kCheckpointFormat << "\")");
  DG_CHECK(format->second == kCheckpointFormat, path.string() << ": not a dartgolf checkpoint (format is \"" << format->second
                                                              << "\", expected \"" << kCheckpointFormat << "\")");

  // Older checkpoints carry no checksum; every checkpoint written since does, and it must match.
  if (const auto stored = file.metadata.find(kCrcKey); stored != file.metadata.end()) {
    uint32_t crc = 0;
    for (const auto& tensor : file.tensors) crc = crc32_update(crc, tensor.bytes.data(), tensor.bytes.size());
    DG_CHECK(stored->second == crc_hex(crc), path.string() << ": checksum mismatch (stored data_crc32 " << stored->second
                                                           << ", computed " << crc_hex(crc)
                                                           << "): the file is corrupt; use an earlier checkpoint");
  }

  LoadedCheckpoint loaded;
  const auto config = file.metadata.find(kConfigKey);
  DG_CHECK(config != file.metadata.end(), path.string() << ": checkpoint has no \"config\" metadata");
  try {
    loaded.meta.config = nlohmann::json::parse(config->second);
  } catch (const nlohmann::json::exception& e) {  // parse errors and numbers out of range alike
    DG_THROW(path.string() << ": checkpoint metadata \"config\" is not valid JSON: " << json_error_text(e.what()));
  }
  const auto step = file.metadata.find(kStepKey);
  DG_CHECK(step != file.metadata.end(), path.string() << ": checkpoint has no \"step\" metadata");
  loaded.meta.step = parse_step(step->second, path);
  for (const auto& [key, value] : file.metadata) {
    if (!is_reserved_key(key)) loaded.meta.extra[key] = value;
  }

  for (auto& tensor : file.tensors) {
    DG_CHECK(tensor.dtype == "F32", path.string() << ": tensor \"" << tensor.name << "\" is " << tensor.dtype
                                                  << "; dartgolf checkpoints hold F32 tensors only");
    std::vector<float> values(tensor.bytes.size() / sizeof(float));
    if (!values.empty()) std::memcpy(values.data(), tensor.bytes.data(), tensor.bytes.size());
    tensor.bytes = std::string();  // release the raw copy as we go; checkpoints can be large
    loaded.names.push_back(tensor.name);
    loaded.tensors.emplace(tensor.name, std::make_pair(std::move(tensor.shape), std::move(values)));
  }
  return loaded;
}

void check_checkpoint_layout(const LoadedCheckpoint& loaded,
                             const std::vector<std::pair<std::string, std::vector<int64_t>>>& expected,
                             const std::filesystem::path& path) {
  std::vector<std::string> missing, mismatched, unexpected;
  std::set<std::string> expected_names;
  for (const auto& [name, shape] : expected) {
    expected_names.insert(name);
    const auto found = loaded.tensors.find(name);
    if (found == loaded.tensors.end()) {
      missing.push_back(name + " " + format_shape(shape));
    } else if (found->second.first != shape) {
      mismatched.push_back(name + " (checkpoint " + format_shape(found->second.first) + ", model " + format_shape(shape) + ")");
    }
  }
  for (const auto& name : loaded.names) {
    if (is_training_state_tensor(name)) continue;  // a resumable checkpoint's optimizer state
    if (!expected_names.contains(name)) unexpected.push_back(name + " " + format_shape(loaded.tensors.at(name).first));
  }
  if (missing.empty() && mismatched.empty() && unexpected.empty()) return;

  std::ostringstream message;
  message << path.string() << ": checkpoint does not match the model (was it saved with another preset or config?)";
  append_list(message, "missing", missing);
  append_list(message, "unexpected", unexpected);
  append_list(message, "shape mismatch", mismatched);
  DG_THROW(message.str());
}

}  // namespace dg
