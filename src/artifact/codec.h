// The artifact's compressors. zlib level 9 is the challenge's; zstd (level 22) and xz/LZMA2
// (preset 9 extreme, raw stream: no container bytes) are dartgolf's options, measured in
// docs/results.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dg::artifact {

enum class Codec : uint8_t { Zlib = 1, Zstd = 2, Lzma = 3 };

const char* codec_name(Codec codec);
// "zlib", "zstd" or "lzma"; anything else is an error listing those.
Codec parse_codec(const std::string& name);
// The codec whose id a file stores; an unknown id is an error naming `source`.
Codec codec_from_id(uint8_t id, const std::string& source);
std::vector<std::string> codec_names();

std::string compress(std::string_view raw, Codec codec);
// Decompresses into exactly `raw_size` bytes; corrupt or truncated input, or a different size, is an
// error naming `source`.
std::string decompress(std::string_view packed, Codec codec, uint64_t raw_size, const std::string& source);

}  // namespace dg::artifact
