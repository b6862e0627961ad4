#include "artifact/artifact.h"

#include <bit>
#include <cstring>
#include <fstream>

#include "artifact/bitpack.h"
#include "core/checksum.h"
#include "core/error.h"
#include "core/fs.h"

namespace dg::artifact {

namespace {

constexpr int kMaxDims = 4;
constexpr uint8_t kFlagBitpacked = 1;

class ByteWriter {
 public:
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) { put(v, 2); }
  void u32(uint32_t v) { put(v, 4); }
  void u64(uint64_t v) { put(v, 8); }
  void f32(float v) { u32(std::bit_cast<uint32_t>(v)); }
  void bytes(std::string_view b) { out_.append(b); }
  std::string& buffer() { return out_; }

 private:
  void put(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xffu));
  }
  std::string out_;
};

// Every read is bounds-checked: a truncated or damaged body reports where it ran out.
class ByteReader {
 public:
  ByteReader(std::string_view data, std::string source) : data_(data), source_(std::move(source)) {}
  uint8_t u8(const char* what) { return static_cast<uint8_t>(get(1, what)); }
  uint16_t u16(const char* what) { return static_cast<uint16_t>(get(2, what)); }
  uint32_t u32(const char* what) { return static_cast<uint32_t>(get(4, what)); }
  uint64_t u64(const char* what) { return get(8, what); }
  float f32(const char* what) { return std::bit_cast<float>(u32(what)); }
  std::string_view bytes(uint64_t n, const char* what) {
    need(n, what);
    std::string_view out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }

 private:
  void need(uint64_t n, const char* what) {
    DG_CHECK(n <= remaining(), source_ << ": the artifact body ends early while reading " << what << " (needs " << n
                                       << " bytes at offset " << pos_ << ", " << remaining() << " left)");
  }
  uint64_t get(int n, const char* what) {
    need(static_cast<uint64_t>(n), what);
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    pos_ += static_cast<size_t>(n);
    return v;
  }
  std::string_view data_;
  size_t pos_ = 0;
  std::string source_;
};

uint64_t read_le(std::string_view bytes, size_t offset, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[offset + i])) << (8 * i);
  return v;
}

bool stores_packed(const quant::EncodedTensor& t, bool bitpack) {
  return bitpack && (t.encoding == quant::Encoding::IntPerRow || t.encoding == quant::Encoding::IntPerTensor) && t.bits < 8;
}

int64_t int_bytes(const quant::EncodedTensor& t, bool bitpack) {
  return stores_packed(t, bitpack) ? packed_size(t.numel(), t.bits) : t.numel();
}

void write_payload(const quant::EncodedTensor& t, bool bitpack, ByteWriter& w) {
  switch (t.encoding) {
    case quant::Encoding::Fp32:
      for (float v : t.fp32) w.f32(v);
      return;
    case quant::Encoding::Fp16:
      for (uint16_t v : t.fp16) w.u16(v);
      return;
    case quant::Encoding::IntPerRow:
      for (uint16_t s : t.row_scales) w.u16(s);
      break;
    case quant::Encoding::IntPerTensor: w.f32(t.tensor_scale); break;
  }
  if (stores_packed(t, bitpack)) pack_signed(t.q.data(), t.numel(), t.bits, w.buffer());
  else w.bytes(std::string_view(reinterpret_cast<const char*>(t.q.data()), t.q.size()));
}

void check_tensor_consistent(const quant::EncodedTensor& t) {
  const size_t n = static_cast<size_t>(t.numel());
  bool ok = false;
  switch (t.encoding) {
    case quant::Encoding::Fp32: ok = t.fp32.size() == n; break;
    case quant::Encoding::Fp16: ok = t.fp16.size() == n; break;
    case quant::Encoding::IntPerRow: ok = t.shape.size() == 2 && t.q.size() == n && t.row_scales.size() == static_cast<size_t>(t.rows()); break;
    case quant::Encoding::IntPerTensor: ok = t.q.size() == n; break;
  }
  DG_CHECK(ok, "tensor " << t.name << ": its data does not match its shape and encoding " << quant::encoding_name(t.encoding));
}

void read_payload(quant::EncodedTensor& t, bool bitpacked, ByteReader& r, const std::string& source) {
  const int64_t n = t.numel();
  const auto count = static_cast<size_t>(n);
  switch (t.encoding) {
    case quant::Encoding::Fp32:
      t.fp32.resize(count);
      for (auto& v : t.fp32) v = r.f32("fp32 tensor data");
      return;
    case quant::Encoding::Fp16:
      t.fp16.resize(count);
      for (auto& v : t.fp16) v = r.u16("fp16 tensor data");
      return;
    case quant::Encoding::IntPerRow:
      t.row_scales.resize(static_cast<size_t>(t.rows()));
      for (auto& s : t.row_scales) s = r.u16("per-row scales");
      break;
    case quant::Encoding::IntPerTensor: t.tensor_scale = r.f32("a per-tensor scale"); break;
  }
  t.q.resize(count);
  const std::string_view stored = r.bytes(static_cast<uint64_t>(int_bytes(t, bitpacked)), "quantized values");
  if (stores_packed(t, bitpacked)) unpack_signed(reinterpret_cast<const uint8_t*>(stored.data()), n, t.bits, t.q.data());
  else std::memcpy(t.q.data(), stored.data(), count);
  const int qmax = (1 << (t.bits - 1)) - 1;
  for (size_t i = 0; i < count; ++i)
    DG_CHECK(t.q[i] >= -qmax && t.q[i] <= qmax, source << ": tensor " << t.name << " holds the value " << int(t.q[i])
                                                       << ", outside ±" << qmax << " for " << t.bits << "-bit ints");
}

void check_entry(const quant::EncodedTensor& t, const std::string& source) {
  const std::string where = source + ": tensor '" + t.name + "'";
  switch (t.encoding) {
    case quant::Encoding::Fp32: DG_CHECK(t.bits == 32, where << ": fp32 with bits " << t.bits); break;
    case quant::Encoding::Fp16: DG_CHECK(t.bits == 16, where << ": fp16 with bits " << t.bits); break;
    case quant::Encoding::IntPerRow:
      DG_CHECK(t.shape.size() == 2, where << ": per-row ints need a 2-D shape");
      [[fallthrough]];
    case quant::Encoding::IntPerTensor:
      DG_CHECK(t.bits >= 2 && t.bits <= 8, where << ": int width " << t.bits << " out of range 2..8");
      break;
    default: DG_THROW(where << ": unknown encoding id " << static_cast<int>(t.encoding));
  }
}

}  // namespace

std::string serialize_artifact(const Artifact& artifact, const CodecChoice& codec, bool bitpack, ArtifactSizes* sizes) {
  ByteWriter body;
  const std::string header_json = nlohmann::json{{"config", artifact.config}, {"meta", artifact.meta}}.dump();
  body.u32(static_cast<uint32_t>(header_json.size()));
  body.bytes(header_json);
  body.u32(static_cast<uint32_t>(artifact.tensors.size()));
  for (const quant::EncodedTensor& t : artifact.tensors) {
    check_tensor_consistent(t);
    DG_CHECK(t.name.size() <= 0xffff && t.shape.size() <= kMaxDims, "tensor " << t.name << ": name or rank too large");
    body.u16(static_cast<uint16_t>(t.name.size()));
    body.bytes(t.name);
    body.u8(static_cast<uint8_t>(t.encoding));
    body.u8(static_cast<uint8_t>(t.bits));
    body.u8(static_cast<uint8_t>(t.shape.size()));
    for (int64_t d : t.shape) body.u64(static_cast<uint64_t>(d));
  }
  const size_t payload_start = body.buffer().size();
  for (const quant::EncodedTensor& t : artifact.tensors) write_payload(t, bitpack, body);
  const std::string& raw = body.buffer();
  const Compressed packed = compress(raw, codec);

  ByteWriter file;
  file.bytes(std::string_view(kArtifactMagic, sizeof kArtifactMagic));
  file.u32(kArtifactVersion);
  file.u8(static_cast<uint8_t>(packed.codec));
  file.u8(bitpack ? kFlagBitpacked : 0);
  file.u16(0);
  file.u64(raw.size());
  file.u64(packed.bytes.size());
  file.bytes(packed.bytes);
  file.u32(crc32_of(file.buffer()));
  if (sizes) {
    sizes->codec = packed.codec;
    sizes->file_bytes = static_cast<int64_t>(file.buffer().size());
    sizes->raw_bytes = static_cast<int64_t>(raw.size());
    sizes->payload_bytes = static_cast<int64_t>(raw.size() - payload_start);
  }
  return std::move(file.buffer());
}

Artifact parse_artifact(std::string_view bytes, const std::string& source) {
  DG_CHECK(bytes.size() >= 8 && std::memcmp(bytes.data(), kArtifactMagic, 8) == 0,
           source << ": not a dartgolf artifact (the file does not start with the magic \"DGOLFART\"; "
                     "artifacts are written by `dartgolf pack` and at the end of `dartgolf train`)");
  DG_CHECK(bytes.size() >= static_cast<size_t>(kArtifactHeaderBytes + kArtifactTrailerBytes),
           source << ": truncated artifact: " << bytes.size() << " bytes, shorter than its "
                  << kArtifactHeaderBytes + kArtifactTrailerBytes << "-byte header and checksum");
  const auto version = static_cast<uint32_t>(read_le(bytes, 8, 4));
  DG_CHECK(version == kArtifactVersion, source << ": artifact format version " << version
                                               << " is not supported: this dartgolf reads version " << kArtifactVersion);
  const uint64_t raw_size = read_le(bytes, 16, 8);
  const uint64_t packed_size = read_le(bytes, 24, 8);
  const uint64_t expected = kArtifactHeaderBytes + packed_size + kArtifactTrailerBytes;
  DG_CHECK(packed_size <= bytes.size() && expected == bytes.size(),
           source << ": truncated or padded artifact: the header promises " << packed_size
                  << " compressed bytes (a " << expected << "-byte file), the file has " << bytes.size() << " bytes");
  const size_t crc_at = bytes.size() - kArtifactTrailerBytes;
  const auto stored_crc = static_cast<uint32_t>(read_le(bytes, crc_at, 4));
  const uint32_t actual_crc = crc32_of(bytes.substr(0, crc_at));
  DG_CHECK(stored_crc == actual_crc, source << ": checksum mismatch (stored CRC-32 " << std::hex << stored_crc
                                            << ", computed " << actual_crc << std::dec
                                            << "): the artifact is corrupt (a changed or damaged byte)");
  Artifact artifact;
  artifact.codec = codec_from_id(static_cast<uint8_t>(bytes[12]), source);
  const auto flags = static_cast<uint8_t>(bytes[13]);
  DG_CHECK((flags & ~kFlagBitpacked) == 0 && read_le(bytes, 14, 2) == 0,
           source << ": unknown header flags " << static_cast<int>(flags) << " (written by a newer dartgolf?)");
  artifact.bitpacked = (flags & kFlagBitpacked) != 0;
  artifact.raw_bytes = raw_size;
  artifact.file_bytes = bytes.size();
  DG_CHECK(raw_size <= (uint64_t{1} << 34), source << ": implausible uncompressed size " << raw_size);
  const std::string raw = decompress(bytes.substr(kArtifactHeaderBytes, packed_size), artifact.codec, raw_size, source);

  ByteReader r(raw, source);
  const uint32_t json_size = r.u32("the config length");
  const std::string_view json_text = r.bytes(json_size, "the config JSON");
  nlohmann::json header = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  DG_CHECK(header.is_object() && header.contains("config") && header["config"].is_object() && header.contains("meta") &&
               header["meta"].is_object(),
           source << ": the artifact's config block is not the expected JSON object {\"config\": {...}, \"meta\": {...}}");
  artifact.config = header["config"];
  artifact.meta = header["meta"];
  const uint32_t count = r.u32("the tensor count");
  DG_CHECK(count <= 100000, source << ": implausible tensor count " << count);
  artifact.tensors.resize(count);
  for (quant::EncodedTensor& t : artifact.tensors) {
    const uint16_t name_size = r.u16("a tensor name length");
    t.name = std::string(r.bytes(name_size, "a tensor name"));
    t.encoding = static_cast<quant::Encoding>(r.u8("a tensor encoding"));
    t.bits = r.u8("a tensor bit width");
    const uint8_t ndim = r.u8("a tensor rank");
    DG_CHECK(ndim >= 1 && ndim <= kMaxDims, source << ": tensor '" << t.name << "' has rank " << int(ndim) << " (1..4 allowed)");
    uint64_t numel = 1;
    for (uint8_t d = 0; d < ndim; ++d) {
      const uint64_t dim = r.u64("a tensor dimension");
      const uint64_t limit = raw.size() * 8;  // no encoding stores a value in less than one bit
      DG_CHECK(dim <= limit && (dim == 0 || numel <= limit / dim),
               source << ": tensor '" << t.name << "' claims more values than the artifact holds");
      numel *= dim;
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    check_entry(t, source);
  }
  for (quant::EncodedTensor& t : artifact.tensors) read_payload(t, artifact.bitpacked, r, source);
  DG_CHECK(r.remaining() == 0, source << ": " << r.remaining() << " unexpected bytes after the last tensor");
  return artifact;
}

void write_artifact(const std::filesystem::path& path, std::string_view bytes) { write_file_atomic(path, bytes); }

Artifact read_artifact(const std::filesystem::path& path) { return parse_artifact(read_file_bytes(path), path.string()); }

bool looks_like_artifact(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  char head[8] = {};
  in.read(head, sizeof head);
  return in.gcount() == 8 && std::memcmp(head, kArtifactMagic, 8) == 0;
}

}  // namespace dg::artifact
