// The artifact's compressors. zlib level 9 is the challenge's; zstd (level 22), xz/LZMA2 (preset 9
// extreme, raw stream: no container bytes) and brotli (quality 11, window 2^24, as the challenge's
// records use it) are dartgolf's options, measured in docs/results.md. `best` is no codec of its
// own: it compresses with each and keeps the smallest (the file records the one that won).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dg::artifact {

enum class Codec : uint8_t { Zlib = 1, Zstd = 2, Lzma = 3, Brotli = 4 };

const char* codec_name(Codec codec);
// "zlib", "zstd", "lzma" or "brotli"; anything else is an error listing those.
Codec parse_codec(const std::string& name);
// The codec whose id a file stores; an unknown id is an error naming `source`.
Codec codec_from_id(uint8_t id, const std::string& source);
std::vector<std::string> codec_names();
std::vector<Codec> all_codecs();

// A codec setting: one codec, or `best` (every codec tried, the smallest output kept).
struct CodecChoice {
  CodecChoice() = default;
  CodecChoice(Codec one) : codec(one) {}  // NOLINT: a codec is a choice of exactly that codec
  bool best = false;
  Codec codec = Codec::Zlib;  // when !best
  static CodecChoice parse(const std::string& name);  // a codec name or "best"
  std::string name() const;
};

std::string compress(std::string_view raw, Codec codec);
struct Compressed {
  Codec codec = Codec::Zlib;
  std::string bytes;
};
// With `best`, the smallest of all codecs (the first listed wins a tie).
Compressed compress(std::string_view raw, const CodecChoice& choice);
// Decompresses into exactly `raw_size` bytes; corrupt or truncated input, or a different size, is an
// error naming `source`.
std::string decompress(std::string_view packed, Codec codec, uint64_t raw_size, const std::string& source);

}  // namespace dg::artifact
