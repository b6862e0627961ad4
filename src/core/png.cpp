#include "core/png.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <limits>

#include "core/error.h"
#include "core/fs.h"
#include "core/zlib_compress.h"

namespace dg {
namespace {

// PNG caps width and height at 2^31 − 1; far below that, one image row must fit zlib's uLong.
constexpr int64_t kMaxSide = std::numeric_limits<int32_t>::max();

void append_u32_be(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>((v >> 24) & 0xFF));
  out.push_back(static_cast<char>((v >> 16) & 0xFF));
  out.push_back(static_cast<char>((v >> 8) & 0xFF));
  out.push_back(static_cast<char>(v & 0xFF));
}

// length, type, data, then CRC-32 over type and data (not the length).
void append_chunk(std::string& out, const char (&type)[5], const std::string& data) {
  DG_CHECK(data.size() <= static_cast<size_t>(kMaxSide), "PNG chunk " << type << " is too large");
  append_u32_be(out, static_cast<uint32_t>(data.size()));
  const size_t type_at = out.size();
  out.append(type, 4);
  out += data;
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(out.data() + type_at), static_cast<uInt>(4 + data.size()));
  append_u32_be(out, static_cast<uint32_t>(crc));
}

}  // namespace

RgbImage::RgbImage(int64_t width, int64_t height, Rgb fill) : width_(width), height_(height) {
  DG_CHECK(width > 0 && height > 0 && width <= kMaxSide && height <= kMaxSide,
           "image size " << width << "×" << height << " must be positive (and below 2^31)");
  DG_CHECK(width * height <= (int64_t{1} << 28), "image " << width << "×" << height << " is too large to draw");
  bytes_.resize(static_cast<size_t>(width * height * 3));
  for (size_t i = 0; i < bytes_.size(); i += 3) {
    bytes_[i] = fill.r;
    bytes_[i + 1] = fill.g;
    bytes_[i + 2] = fill.b;
  }
}

size_t RgbImage::index(int64_t x, int64_t y) const {
  DG_CHECK(x >= 0 && x < width_ && y >= 0 && y < height_,
           "pixel (" << x << ", " << y << ") is outside the " << width_ << "×" << height_ << " image");
  return static_cast<size_t>((y * width_ + x) * 3);
}

Rgb RgbImage::at(int64_t x, int64_t y) const {
  const size_t i = index(x, y);
  return {bytes_[i], bytes_[i + 1], bytes_[i + 2]};
}

void RgbImage::set(int64_t x, int64_t y, Rgb color) {
  const size_t i = index(x, y);
  bytes_[i] = color.r;
  bytes_[i + 1] = color.g;
  bytes_[i + 2] = color.b;
}

void RgbImage::fill_rect(int64_t x, int64_t y, int64_t w, int64_t h, Rgb color) {
  const int64_t x0 = std::max<int64_t>(x, 0), x1 = std::min(x + w, width_);
  const int64_t y0 = std::max<int64_t>(y, 0), y1 = std::min(y + h, height_);
  for (int64_t yy = y0; yy < y1; ++yy)
    for (int64_t xx = x0; xx < x1; ++xx) set(xx, yy, color);
}

std::string encode_png(const RgbImage& image) {
  DG_CHECK(image.width() > 0 && image.height() > 0, "PNG: cannot encode an empty image");
  static constexpr std::array<unsigned char, 8> kSignature{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::string out(kSignature.begin(), kSignature.end());

  std::string header;
  append_u32_be(header, static_cast<uint32_t>(image.width()));
  append_u32_be(header, static_cast<uint32_t>(image.height()));
  header.push_back(8);  // bit depth
  header.push_back(2);  // colour type: truecolour (RGB)
  header.push_back(0);  // compression: deflate
  header.push_back(0);  // filter method 0 (adaptive filtering with five types; we use type 0)
  header.push_back(0);  // no interlace
  append_chunk(out, "IHDR", header);

  // Each scanline is its filter-type byte (0: the bytes as they are) followed by the row's pixels.
  const size_t row_bytes = static_cast<size_t>(image.width()) * 3;
  std::string raw;
  raw.reserve(static_cast<size_t>(image.height()) * (row_bytes + 1));
  const auto* pixels = reinterpret_cast<const char*>(image.bytes().data());
  for (int64_t y = 0; y < image.height(); ++y) {
    raw.push_back(0);
    raw.append(pixels + static_cast<size_t>(y) * row_bytes, row_bytes);
  }
  append_chunk(out, "IDAT", zlib_compress(raw, Z_BEST_COMPRESSION, "PNG"));
  append_chunk(out, "IEND", std::string());
  return out;
}

void write_png(const std::filesystem::path& path, const RgbImage& image) {
  write_file_atomic(path, encode_png(image));
}

}  // namespace dg
