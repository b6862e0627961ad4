// A minimal PNG writer for the heatmaps `dartgolf inspect --blocks` draws: 8-bit RGB, no
// interlacing, every row with filter 0 (none), the pixels deflated by zlib into one IDAT chunk.
// That is the smallest valid PNG any viewer reads (PNG spec, ISO/IEC 15948); the images are a few
// hundred pixels, so better filters or chunking would buy nothing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace dg {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

// Pixels row-major from the top-left corner.
class RgbImage {
 public:
  RgbImage() = default;
  RgbImage(int64_t width, int64_t height, Rgb fill = {});  // throws for a non-positive size

  int64_t width() const { return width_; }
  int64_t height() const { return height_; }
  Rgb at(int64_t x, int64_t y) const;
  void set(int64_t x, int64_t y, Rgb color);
  // Fills the rectangle [x, x + w) × [y, y + h), clipped to the image.
  void fill_rect(int64_t x, int64_t y, int64_t w, int64_t h, Rgb color);
  const std::vector<uint8_t>& bytes() const { return bytes_; }  // r, g, b per pixel

 private:
  size_t index(int64_t x, int64_t y) const;
  int64_t width_ = 0, height_ = 0;
  std::vector<uint8_t> bytes_;
};

// The whole PNG file as bytes.
std::string encode_png(const RgbImage& image);
// Writes encode_png(image) to `path` atomically.
void write_png(const std::filesystem::path& path, const RgbImage& image);

}  // namespace dg
