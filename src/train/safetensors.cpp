#include "train/safetensors.h"

#include <algorithm>
#include <array>
#include <bit>
#include <limits>
#include <set>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/text.h"
#include "core/log.h"
#include "core/fs.h"

// Tensors are stored little-endian and copied byte for byte; a big-endian host would need swaps.
static_assert(std::endian::native == std::endian::little, "dartgolf's safetensors I/O assumes a little-endian host");

namespace dg {
namespace {

constexpr std::string_view kMetadataKey = "__metadata__";
constexpr size_t kLengthFieldBytes = 8;
constexpr size_t kHeaderAlignment = 8;

struct DtypeSize {
  std::string_view name;
  size_t bytes;
};

// The byte-addressable dtypes of the safetensors spec (sub-byte F4/F6 types are not supported).
constexpr std::array<DtypeSize, 16> kDtypes{{
    {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"F8_E8M0", 1},
    {"I16", 2}, {"U16", 2}, {"F16", 2}, {"BF16", 2},
    {"I32", 4}, {"U32", 4}, {"F32", 4},
    {"I64", 8}, {"U64", 8}, {"F64", 8},
}};

std::string known_dtypes() {
  std::string list;
  for (const auto& d : kDtypes) {
    if (!list.empty()) list += ' ';
    list += d.name;
  }
  return list;
}

// shape × dtype size in bytes, or false when a dimension is negative or the product overflows.
bool checked_byte_count(const std::vector<int64_t>& shape, size_t element_bytes, uint64_t* bytes) {
  uint64_t total = element_bytes;
  for (int64_t dim : shape) {
    if (dim < 0) return false;
    if (__builtin_mul_overflow(total, static_cast<uint64_t>(dim), &total)) return false;
  }
  *bytes = total;
  return true;
}

uint64_t expected_bytes_for_write(const std::string& name, const std::string& dtype, const std::vector<int64_t>& shape,
                                  const std::filesystem::path& path) {
  DG_CHECK(is_safetensors_dtype(dtype), path.string() << ": tensor \"" << name << "\" has unknown dtype \"" << dtype
                                                      << "\" (known: " << known_dtypes() << ")");
  uint64_t bytes = 0;
  DG_CHECK(checked_byte_count(shape, safetensors_dtype_size(dtype), &bytes),
           path.string() << ": tensor \"" << name << "\" has an invalid shape " << format_shape(shape)
                         << " (negative dimension or too many elements)");
  return bytes;
}

// The JSON header, padded with spaces to a multiple of 8 bytes, for tensors laid out in order.
std::string build_header(const std::vector<TensorBytesView>& tensors, const std::vector<uint64_t>& byte_sizes,
                         const std::map<std::string, std::string>& metadata, const std::filesystem::path& path) {
  // ordered_json keeps insertion order, so the header lists tensors in the order of the data.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header[std::string(kMetadataKey)] = std::move(meta);
  }
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    header[tensors[i].name] = {{"dtype", tensors[i].dtype},
                               {"shape", tensors[i].shape},
                               {"data_offsets", {offset, offset + byte_sizes[i]}}};
    offset += byte_sizes[i];
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    DG_THROW(path.string() << ": cannot encode the safetensors header (names and metadata must be UTF-8): " << json_error_text(e.what()));
  }
  text.append((kHeaderAlignment - text.size() % kHeaderAlignment) % kHeaderAlignment, ' ');
  return text;
}

struct HeaderEntry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

HeaderEntry parse_tensor_entry(const std::string& name, const nlohmann::json& info, uint64_t data_size,
                               const std::string& where) {
  const std::string tensor = where + ": tensor \"" + name + "\"";
  DG_CHECK(info.is_object(), tensor << ": header entry is not a JSON object");
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    DG_CHECK(info.contains(field), tensor << ": header entry has no \"" << field << "\"");
  }
  HeaderEntry entry;
  entry.name = name;

  const auto& dtype = info["dtype"];
  DG_CHECK(dtype.is_string(), tensor << ": \"dtype\" is not a string");
  entry.dtype = dtype.get<std::string>();
  DG_CHECK(is_safetensors_dtype(entry.dtype),
           tensor << ": unknown dtype \"" << entry.dtype << "\" (known: " << known_dtypes() << ")");

  const auto& shape = info["shape"];
  DG_CHECK(shape.is_array(), tensor << ": \"shape\" is not an array");
  for (const auto& dim : shape) {
    DG_CHECK(dim.is_number_unsigned() && dim.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
             tensor << ": \"shape\" " << shape.dump() << " holds something other than a non-negative integer");
    entry.shape.push_back(static_cast<int64_t>(dim.get<uint64_t>()));
  }

  const auto& offsets = info["data_offsets"];
  DG_CHECK(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() && offsets[1].is_number_unsigned(),
           tensor << ": \"data_offsets\" " << offsets.dump() << " is not a pair of non-negative integers");
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();
  DG_CHECK(entry.begin <= entry.end, tensor << ": data_offsets [" << entry.begin << ", " << entry.end << "] end before they begin");
  DG_CHECK(entry.end <= data_size, tensor << ": data_offsets [" << entry.begin << ", " << entry.end
                                          << "] are out of range: the data buffer has " << data_size << " bytes");

  uint64_t expected = 0;
  DG_CHECK(checked_byte_count(entry.shape, safetensors_dtype_size(entry.dtype), &expected),
           tensor << ": shape " << format_shape(entry.shape) << " has too many elements");
  DG_CHECK(expected == entry.end - entry.begin,
           tensor << ": shape " << format_shape(entry.shape) << " of " << entry.dtype << " needs " << expected
                  << " bytes but data_offsets [" << entry.begin << ", " << entry.end << "] hold " << entry.end - entry.begin);
  return entry;
}

// Tensors must tile the data buffer exactly: sorted by offset, each starts where the last ended.
void check_tiling(std::vector<HeaderEntry>& entries, uint64_t data_size, const std::string& where) {
  std::sort(entries.begin(), entries.end(), [](const HeaderEntry& a, const HeaderEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : (a.end != b.end ? a.end < b.end : a.name < b.name);
  });
  uint64_t covered_to = 0;
  const HeaderEntry* previous = nullptr;
  for (const auto& entry : entries) {
    DG_CHECK(entry.begin >= covered_to, where << ": tensor \"" << entry.name << "\" (bytes " << entry.begin << ".." << entry.end
                                              << ") overlaps tensor \"" << previous->name << "\" (bytes " << previous->begin
                                              << ".." << previous->end << ")");
    DG_CHECK(entry.begin == covered_to, where << ": data bytes " << covered_to << ".." << entry.begin
                                              << " belong to no tensor (gap before tensor \"" << entry.name << "\")");
    covered_to = entry.end;
    previous = &entry;
  }
  DG_CHECK(covered_to == data_size, where << ": the tensors cover " << covered_to << " bytes but the data buffer holds "
                                          << data_size << " (trailing bytes belong to no tensor)");
}

}  // namespace

bool is_safetensors_dtype(const std::string& dtype) {
  return std::any_of(kDtypes.begin(), kDtypes.end(), [&](const DtypeSize& d) { return d.name == dtype; });
}

size_t safetensors_dtype_size(const std::string& dtype) {
  for (const auto& d : kDtypes) {
    if (d.name == dtype) return d.bytes;
  }
  DG_THROW("unknown safetensors dtype \"" << dtype << "\" (known: " << known_dtypes() << ")");
}

const NamedTensorData* SafetensorsFile::find(const std::string& name) const {
  for (const auto& tensor : tensors) {
    if (tensor.name == name) return &tensor;
  }
  return nullptr;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorBytesView>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // Everything that can be checked without touching tensor data is checked before the file opens.
  std::set<std::string> seen;
  std::vector<uint64_t> byte_sizes;
  byte_sizes.reserve(tensors.size());
  for (const auto& tensor : tensors) {
    DG_CHECK(!tensor.name.empty(), path.string() << ": a tensor has an empty name");
    DG_CHECK(tensor.name != kMetadataKey, path.string() << ": \"" << kMetadataKey << "\" is reserved and cannot name a tensor");
    DG_CHECK(seen.insert(tensor.name).second, path.string() << ": tensor name \"" << tensor.name << "\" appears twice");
    byte_sizes.push_back(expected_bytes_for_write(tensor.name, tensor.dtype, tensor.shape, path));
  }
  const std::string header = build_header(tensors, byte_sizes, metadata, path);

  write_file_atomic(path, [&](std::ostream& out) {
    std::array<char, kLengthFieldBytes> length{};
    uint64_t header_size = header.size();
    for (size_t i = 0; i < length.size(); ++i) length[i] = static_cast<char>((header_size >> (8 * i)) & 0xff);
    out.write(length.data(), length.size());
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (size_t i = 0; i < tensors.size(); ++i) {
      if (byte_sizes[i] == 0) continue;
      DG_CHECK(tensors[i].data != nullptr, path.string() << ": tensor \"" << tensors[i].name << "\" has no data (null pointer)");
      out.write(static_cast<const char*>(tensors[i].data), static_cast<std::streamsize>(byte_sizes[i]));
      DG_CHECK(out, path.string() << ": write failed in tensor \"" << tensors[i].name << "\" (disk full?)");
    }
  });
}

void write_safetensors(const std::filesystem::path& path, const SafetensorsFile& file) {
  std::vector<TensorBytesView> views;
  views.reserve(file.tensors.size());
  for (const auto& tensor : file.tensors) {
    const uint64_t expected = expected_bytes_for_write(tensor.name, tensor.dtype, tensor.shape, path);
    DG_CHECK(tensor.bytes.size() == expected, path.string() << ": tensor \"" << tensor.name << "\" has " << tensor.bytes.size()
                                                            << " bytes but shape " << format_shape(tensor.shape) << " of "
                                                            << tensor.dtype << " needs " << expected);
    views.push_back({tensor.name, tensor.dtype, tensor.shape, tensor.bytes.data()});
  }
  write_safetensors(path, views, file.metadata);
}

SafetensorsFile read_safetensors(const std::filesystem::path& path) {
  const std::string where = path.string();
  const std::string bytes = read_file_bytes(path);
  DG_CHECK(bytes.size() >= kLengthFieldBytes, where << ": not a safetensors file: " << bytes.size()
                                                    << " bytes is shorter than the 8-byte header length field");
  uint64_t header_size = 0;
  for (size_t i = 0; i < kLengthFieldBytes; ++i) header_size |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  const uint64_t after_length = bytes.size() - kLengthFieldBytes;
  DG_CHECK(header_size <= after_length, where << ": header length " << header_size << " runs past the end of the file ("
                                              << bytes.size() << " bytes): not a safetensors file, or truncated");

  const std::string_view header_text(bytes.data() + kLengthFieldBytes, header_size);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_text.begin(), header_text.end());
  } catch (const nlohmann::json::exception& e) {  // parse errors and numbers out of range alike
    DG_THROW(where << ": header is not valid JSON: " << json_error_text(e.what()));
  }
  DG_CHECK(header.is_object(), where << ": header is JSON but not an object");

  const size_t data_begin = kLengthFieldBytes + header_size;
  const uint64_t data_size = bytes.size() - data_begin;
  SafetensorsFile file;
  std::vector<HeaderEntry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey) {
      DG_CHECK(value.is_object(), where << ": \"" << kMetadataKey << "\" is not a JSON object");
      for (const auto& [meta_key, meta_value] : value.items()) {
        DG_CHECK(meta_value.is_string(), where << ": metadata \"" << meta_key << "\" is not a string");
        file.metadata[meta_key] = meta_value.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_tensor_entry(key, value, data_size, where));
  }
  check_tiling(entries, data_size, where);

  file.tensors.reserve(entries.size());
  for (auto& entry : entries) {
    file.tensors.push_back({std::move(entry.name), std::move(entry.dtype), std::move(entry.shape),
                            bytes.substr(data_begin + entry.begin, entry.end - entry.begin)});
  }
  return file;
}

}  // namespace dg
