#include "artifact/codec.h"

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <limits>

#include "core/error.h"
#include "core/zlib_compress.h"

namespace dg::artifact {

namespace {

constexpr int kZlibLevel = 9;   // train_gpt.py: zlib.compress(..., level=9)
constexpr int kZstdLevel = 22;  // zstd's strongest ("ultra") level
constexpr uint32_t kLzmaPreset = 9 | LZMA_PRESET_EXTREME;
constexpr int kBrotliQuality = BROTLI_MAX_QUALITY;  // 11
constexpr int kBrotliWindowBits = BROTLI_MAX_WINDOW_BITS;  // 24: the largest a standard stream allows

// Raw LZMA2 (no .xz container): the artifact has its own header and checksum.
lzma_options_lzma lzma_options() {
  lzma_options_lzma options{};
  DG_CHECK(!lzma_lzma_preset(&options, kLzmaPreset), "liblzma rejected preset 9e");
  return options;
}

std::string lzma_compress(std::string_view raw) {
  lzma_options_lzma options = lzma_options();
  lzma_filter filters[] = {{LZMA_FILTER_LZMA2, &options}, {LZMA_VLI_UNKNOWN, nullptr}};
  std::string out(raw.size() + raw.size() / 2 + 4096, '\0');
  size_t out_pos = 0;
  const lzma_ret rc = lzma_raw_buffer_encode(filters, nullptr, reinterpret_cast<const uint8_t*>(raw.data()), raw.size(),
                                             reinterpret_cast<uint8_t*>(out.data()), &out_pos, out.size());
  DG_CHECK(rc == LZMA_OK, "lzma compression failed (liblzma code " << rc << ")");
  out.resize(out_pos);
  return out;
}

std::string lzma_decompress(std::string_view packed, uint64_t raw_size, const std::string& source) {
  lzma_options_lzma options = lzma_options();
  lzma_filter filters[] = {{LZMA_FILTER_LZMA2, &options}, {LZMA_VLI_UNKNOWN, nullptr}};
  std::string out(raw_size, '\0');
  size_t in_pos = 0, out_pos = 0;
  const lzma_ret rc =
      lzma_raw_buffer_decode(filters, nullptr, reinterpret_cast<const uint8_t*>(packed.data()), &in_pos, packed.size(),
                             reinterpret_cast<uint8_t*>(out.data()), &out_pos, out.size());
  DG_CHECK(rc == LZMA_OK || rc == LZMA_STREAM_END,
           source << ": the lzma payload is corrupt or truncated (liblzma code " << rc << ")");
  DG_CHECK(out_pos == raw_size && in_pos == packed.size(),
           source << ": the lzma payload decodes to " << out_pos << " bytes, the header says " << raw_size);
  return out;
}

std::string brotli_compress(std::string_view raw) {
  size_t size = BrotliEncoderMaxCompressedSize(raw.size());
  DG_CHECK(size > 0, "brotli cannot compress " << raw.size() << " bytes in one call");
  std::string out(size, '\0');
  const BROTLI_BOOL ok = BrotliEncoderCompress(kBrotliQuality, kBrotliWindowBits, BROTLI_MODE_GENERIC, raw.size(),
                                               reinterpret_cast<const uint8_t*>(raw.data()), &size,
                                               reinterpret_cast<uint8_t*>(out.data()));
  DG_CHECK(ok == BROTLI_TRUE, "brotli compression failed");
  out.resize(size);
  return out;
}

std::string brotli_decompress(std::string_view packed, uint64_t raw_size, const std::string& source) {
  std::string out(raw_size, '\0');
  size_t size = out.size();
  const BrotliDecoderResult rc = BrotliDecoderDecompress(packed.size(), reinterpret_cast<const uint8_t*>(packed.data()),
                                                         &size, reinterpret_cast<uint8_t*>(out.data()));
  DG_CHECK(rc == BROTLI_DECODER_RESULT_SUCCESS,
           source << ": the brotli payload is corrupt, truncated or larger than the header says (decoder result " << rc << ")");
  DG_CHECK(size == raw_size, source << ": the brotli payload decodes to " << size << " bytes, the header says " << raw_size);
  return out;
}

}  // namespace

const char* codec_name(Codec codec) {
  switch (codec) {
    case Codec::Zlib: return "zlib";
    case Codec::Zstd: return "zstd";
    case Codec::Lzma: return "lzma";
    case Codec::Brotli: return "brotli";
  }
  return "?";
}

std::vector<std::string> codec_names() { return {"zlib", "zstd", "lzma", "brotli"}; }

std::vector<Codec> all_codecs() { return {Codec::Zlib, Codec::Zstd, Codec::Lzma, Codec::Brotli}; }

CodecChoice CodecChoice::parse(const std::string& name) {
  CodecChoice choice;
  if (name == "best") choice.best = true;
  else choice.codec = parse_codec(name);
  return choice;
}

std::string CodecChoice::name() const { return best ? "best" : codec_name(codec); }

Codec parse_codec(const std::string& name) {
  if (name == "zlib") return Codec::Zlib;
  if (name == "zstd") return Codec::Zstd;
  if (name == "lzma") return Codec::Lzma;
  if (name == "brotli") return Codec::Brotli;
  DG_THROW("unknown artifact codec '" << name << "'; valid codecs: zlib (the challenge's), zstd, lzma, brotli, "
                                         "or best (each tried, the smallest kept)");
}

Codec codec_from_id(uint8_t id, const std::string& source) {
  if (id >= 1 && id <= 4) return static_cast<Codec>(id);
  DG_THROW(source << ": unknown codec id " << static_cast<int>(id) << " (known: 1 zlib, 2 zstd, 3 lzma, 4 brotli)");
}

std::string compress(std::string_view raw, Codec codec) {
  switch (codec) {
    case Codec::Zlib: return zlib_compress(raw, kZlibLevel, "artifact");
    case Codec::Zstd: {
      std::string out(ZSTD_compressBound(raw.size()), '\0');
      const size_t size = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), kZstdLevel);
      DG_CHECK(!ZSTD_isError(size), "zstd compression failed: " << ZSTD_getErrorName(size));
      out.resize(size);
      return out;
    }
    case Codec::Lzma: return lzma_compress(raw);
    case Codec::Brotli: return brotli_compress(raw);
  }
  DG_THROW("unknown codec");
}

Compressed compress(std::string_view raw, const CodecChoice& choice) {
  if (!choice.best) return {choice.codec, compress(raw, choice.codec)};
  Compressed smallest;
  bool first = true;
  for (Codec codec : all_codecs()) {
    std::string bytes = compress(raw, codec);
    if (first || bytes.size() < smallest.bytes.size()) smallest = {codec, std::move(bytes)};
    first = false;
  }
  return smallest;
}

std::string decompress(std::string_view packed, Codec codec, uint64_t raw_size, const std::string& source) {
  switch (codec) {
    case Codec::Zlib: {
      DG_CHECK(raw_size <= std::numeric_limits<uLongf>::max(), source << ": payload too large for zlib");
      std::string out(raw_size, '\0');
      uLongf size = static_cast<uLongf>(raw_size);
      const int rc = uncompress(reinterpret_cast<Bytef*>(out.data()), &size,
                                reinterpret_cast<const Bytef*>(packed.data()), static_cast<uLong>(packed.size()));
      DG_CHECK(rc == Z_OK, source << ": the zlib payload is corrupt or truncated (" << zError(rc) << ")");
      DG_CHECK(size == raw_size, source << ": the zlib payload decodes to " << size << " bytes, the header says " << raw_size);
      return out;
    }
    case Codec::Zstd: {
      std::string out(raw_size, '\0');
      const size_t size = ZSTD_decompress(out.data(), out.size(), packed.data(), packed.size());
      DG_CHECK(!ZSTD_isError(size), source << ": the zstd payload is corrupt or truncated (" << ZSTD_getErrorName(size) << ")");
      DG_CHECK(size == raw_size, source << ": the zstd payload decodes to " << size << " bytes, the header says " << raw_size);
      return out;
    }
    case Codec::Lzma: return lzma_decompress(packed, raw_size, source);
    case Codec::Brotli: return brotli_decompress(packed, raw_size, source);
  }
  DG_THROW(source << ": unknown codec");
}

}  // namespace dg::artifact
