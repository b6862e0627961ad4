// The safetensors file format (https://github.com/huggingface/safetensors), written and read from
// scratch: an 8-byte little-endian header length N, N bytes of JSON (padded with spaces to a
// multiple of 8 so the data starts aligned), then the tensors' raw little-endian bytes packed
// back to back. The JSON maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
// (offsets relative to the start of the data) plus an optional "__metadata__" string→string map.
// dartgolf's checkpoints (train/checkpoint.h) are safetensors files, so PyTorch/NumPy users can
// open them with the standard `safetensors` package.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace dg {

// One tensor held in memory: raw little-endian bytes, shape × dtype size of them.
struct NamedTensorData {
  std::string name;
  std::string dtype;  // safetensors dtype name: "F32", "I32", "U16", "BF16", ...
  std::vector<int64_t> shape;
  std::string bytes;
};

struct SafetensorsFile {
  std::vector<NamedTensorData> tensors;  // in data order
  std::map<std::string, std::string> metadata;
  const NamedTensorData* find(const std::string& name) const;  // nullptr when absent
};

// A tensor to write that lives elsewhere (a parameter buffer): `data` must hold shape × dtype
// size bytes. It is only dereferenced while its bytes are streamed into the file, so a bad
// pointer (null) fails mid-write, which leaves any previous file at `path` untouched.
struct TensorBytesView {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  const void* data = nullptr;
};

// Bytes per element of a safetensors dtype; throws for an unknown dtype name.
size_t safetensors_dtype_size(const std::string& dtype);
bool is_safetensors_dtype(const std::string& dtype);

// Writes atomically (dg::write_file_atomic), tensors in the given order. Throws on duplicate or
// empty names, the reserved name "__metadata__", unknown dtypes, negative dimensions, or (for the
// in-memory form) a byte length that does not match shape × dtype size.
void write_safetensors(const std::filesystem::path& path, const SafetensorsFile& file);
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorBytesView>& tensors,
                       const std::map<std::string, std::string>& metadata);

// Reads and validates the whole file: its length, the header length, the JSON, every tensor's
// dtype, shape, and offsets (in range, not overlapping, together covering the data exactly).
// Every failure is a dg::Error naming the file, the problem, and the tensor where there is one.
// Tensors come back ordered by their position in the data.
SafetensorsFile read_safetensors(const std::filesystem::path& path);

}  // namespace dg
