#include "data/shard.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "core/fs.h"

namespace dg::data {
namespace fs = std::filesystem;

// The on-disk format is little-endian whatever the host is. Bytes are decoded explicitly for the
// header; the token body is copied in bulk on little-endian hosts and byte-swapped on big-endian
// ones. A mixed-endian host would need its own path, so refuse to build there.
static_assert(std::endian::native == std::endian::little || std::endian::native == std::endian::big,
              "dartgolf's shard I/O supports little- and big-endian hosts only");

namespace {

constexpr int64_t kTokenBytes = 2;
using HeaderBytes = std::array<unsigned char, kShardHeaderBytes>;

int32_t decode_int32_le(const unsigned char* p) {
  const uint32_t u = static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
                     (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
  return static_cast<int32_t>(u);
}

void encode_int32_le(int32_t value, unsigned char* p) {
  const auto u = static_cast<uint32_t>(value);
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(u >> (8 * i));
}

uint16_t byteswap16(uint16_t v) { return static_cast<uint16_t>((v >> 8) | (v << 8)); }

int64_t file_size_of(const fs::path& path) {
  std::error_code ec;
  DG_CHECK(fs::exists(path, ec), "shard " << path.string() << ": no such file");
  DG_CHECK(fs::is_regular_file(path, ec), "shard " << path.string() << ": not a regular file");
  const auto size = fs::file_size(path, ec);
  DG_CHECK(!ec, "shard " << path.string() << ": cannot read its size: " << ec.message());
  return static_cast<int64_t>(size);
}

// Checks the header fields against the file's size; returns the token count.
int64_t validate_header(const fs::path& path, const HeaderBytes& header, int64_t file_size) {
  const std::string name = path.string();
  const int32_t magic = decode_int32_le(&header[0]);
  DG_CHECK(magic == kShardMagic,
           "shard " << name << ": bad magic " << magic << " (expected " << kShardMagic
                    << "); not a challenge token shard");
  const int32_t version = decode_int32_le(&header[4]);
  DG_CHECK(version == kShardVersion,
           "shard " << name << ": bad version " << version << " (expected " << kShardVersion << ")");
  const int64_t count = decode_int32_le(&header[8]);
  DG_CHECK(count >= 0, "shard " << name << ": negative token count " << count << " in header");
  const int64_t expected = kShardHeaderBytes + count * kTokenBytes;
  DG_CHECK(file_size >= expected,
           "shard " << name << ": truncated: header says " << count << " tokens (" << expected
                    << " bytes) but the file has " << file_size << " bytes");
  DG_CHECK(file_size == expected,
           "shard " << name << ": size mismatch: header says " << count << " tokens (" << expected
                    << " bytes) but the file has " << file_size << " bytes ("
                    << (file_size - expected) << " extra)");
  return count;
}

// Opens `path`, reads and validates its header; leaves `in` positioned at the first token.
int64_t open_and_read_header(const fs::path& path, std::ifstream& in) {
  const int64_t file_size = file_size_of(path);
  DG_CHECK(file_size >= kShardHeaderBytes,
           "shard " << path.string() << ": truncated: " << file_size << " bytes, shorter than the "
                    << kShardHeaderBytes << "-byte header");
  in.open(path, std::ios::binary);
  DG_CHECK(in, "shard " << path.string() << ": cannot open: " << std::strerror(errno));
  HeaderBytes header{};
  in.read(reinterpret_cast<char*>(header.data()), kShardHeaderBytes);
  DG_CHECK(in.gcount() == kShardHeaderBytes,
           "shard " << path.string() << ": truncated: could not read the " << kShardHeaderBytes
                    << "-byte header");
  return validate_header(path, header, file_size);
}

}  // namespace

ShardInfo read_shard_header(const fs::path& path) {
  std::ifstream in;
  const int64_t count = open_and_read_header(path, in);
  return ShardInfo{path, count};
}

std::vector<uint16_t> read_shard(const fs::path& path, int64_t vocab_size) {
  DG_CHECK(vocab_size >= 0, "shard " << path.string() << ": vocab size must be >= 0 (0 skips the id check), got "
                                     << vocab_size);
  std::ifstream in;
  const int64_t count = open_and_read_header(path, in);
  std::vector<uint16_t> tokens(static_cast<size_t>(count));
  const auto body_bytes = static_cast<std::streamsize>(count * kTokenBytes);
  in.read(reinterpret_cast<char*>(tokens.data()), body_bytes);
  // The size was checked above; a short read here means the file shrank or the disk failed.
  DG_CHECK(in.gcount() == body_bytes,
           "shard " << path.string() << ": truncated: read " << in.gcount() << " of " << body_bytes
                    << " token bytes");
  if constexpr (std::endian::native == std::endian::big) {
    for (auto& t : tokens) t = byteswap16(t);
  }
  if (vocab_size > 0 && vocab_size <= std::numeric_limits<uint16_t>::max()) {
    const auto limit = static_cast<uint16_t>(vocab_size);
    const auto bad = std::find_if(tokens.begin(), tokens.end(), [limit](uint16_t t) { return t >= limit; });
    DG_CHECK(bad == tokens.end(),
             "shard " << path.string() << ": token id " << *bad << " at index " << (bad - tokens.begin())
                      << " >= vocab " << vocab_size);
  }
  return tokens;
}

void write_shard(const fs::path& path, std::span<const uint16_t> tokens) {
  DG_CHECK(tokens.size() <= static_cast<size_t>(std::numeric_limits<int32_t>::max()),
           "shard " << path.string() << ": " << tokens.size()
                    << " tokens do not fit the header's int32 token count; write several shards");
  HeaderBytes header{};
  encode_int32_le(kShardMagic, &header[0]);
  encode_int32_le(kShardVersion, &header[4]);
  encode_int32_le(static_cast<int32_t>(tokens.size()), &header[8]);
  write_file_atomic(path, [&](std::ostream& out) {
    out.write(reinterpret_cast<const char*>(header.data()), kShardHeaderBytes);
    if constexpr (std::endian::native == std::endian::little) {
      out.write(reinterpret_cast<const char*>(tokens.data()),
                static_cast<std::streamsize>(tokens.size() * kTokenBytes));
    } else {
      // Swap through a bounded buffer so a big shard does not need a second full copy.
      std::vector<uint16_t> chunk;
      constexpr size_t kChunk = size_t{1} << 16;
      for (size_t begin = 0; begin < tokens.size(); begin += kChunk) {
        const size_t n = std::min(kChunk, tokens.size() - begin);
        chunk.resize(n);
        for (size_t i = 0; i < n; ++i) chunk[i] = byteswap16(tokens[begin + i]);
        out.write(reinterpret_cast<const char*>(chunk.data()), static_cast<std::streamsize>(n * kTokenBytes));
      }
    }
  });
}

std::string shard_file_name(const std::string& split, int index) {
  DG_CHECK(split == "train" || split == "val", "shard split must be \"train\" or \"val\", got \"" << split << "\"");
  // Six digits, as the challenge writes them: beyond that, name order would stop being index order.
  DG_CHECK(index >= 0 && index <= 999999, "shard index must be in [0, 999999], got " << index);
  std::string digits = std::to_string(index);
  if (digits.size() < 6) digits.insert(0, 6 - digits.size(), '0');
  return "fineweb_" + split + "_" + digits + ".bin";
}

}  // namespace dg::data
