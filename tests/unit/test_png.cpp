// The PNG writer: the file is decoded back here chunk by chunk (signature, IHDR fields, every CRC,
// the inflated scanlines with their filter bytes, the pixels), and by PIL when Debian's python has it.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/png.h"
#include "test_support.h"

namespace dg {
namespace {

uint32_t read_u32_be(const std::string& s, size_t at) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(s[at])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[at + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[at + 2])) << 8) | static_cast<uint32_t>(static_cast<uint8_t>(s[at + 3]));
}

struct Chunk {
  std::string type, data;
  bool crc_ok = false;
};

// Splits a PNG file into its chunks after checking the 8-byte signature.
std::vector<Chunk> parse_chunks(const std::string& file) {
  const std::string signature("\x89PNG\r\n\x1a\n", 8);
  EXPECT_EQ(file.substr(0, 8), signature);
  std::vector<Chunk> chunks;
  size_t at = 8;
  while (at + 12 <= file.size()) {
    const uint32_t length = read_u32_be(file, at);
    EXPECT_LE(at + 12 + length, file.size());
    Chunk c;
    c.type = file.substr(at + 4, 4);
    c.data = file.substr(at + 8, length);
    const uLong crc = crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(file.data() + at + 4), 4 + length);
    c.crc_ok = read_u32_be(file, at + 8 + length) == static_cast<uint32_t>(crc);
    chunks.push_back(c);
    at += 12 + length;
  }
  EXPECT_EQ(at, file.size()) << "trailing bytes after the last chunk";
  return chunks;
}

// A gradient with distinct values per channel, so swapped channels or rows show.
RgbImage test_image(int64_t w, int64_t h) {
  RgbImage image(w, h);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      image.set(x, y, Rgb{static_cast<uint8_t>(x * 17 % 256), static_cast<uint8_t>(y * 29 % 256),
                          static_cast<uint8_t>((x + 3 * y) % 256)});
  return image;
}

TEST(Png, DecodesBackToTheSamePixels) {
  const int64_t w = 7, h = 5;
  const RgbImage image = test_image(w, h);
  const std::string file = encode_png(image);
  const std::vector<Chunk> chunks = parse_chunks(file);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].type, "IHDR");
  EXPECT_EQ(chunks[1].type, "IDAT");
  EXPECT_EQ(chunks[2].type, "IEND");
  for (const Chunk& c : chunks) EXPECT_TRUE(c.crc_ok) << c.type;
  EXPECT_TRUE(chunks[2].data.empty());

  const std::string& ihdr = chunks[0].data;
  ASSERT_EQ(ihdr.size(), 13u);
  EXPECT_EQ(read_u32_be(ihdr, 0), w);
  EXPECT_EQ(read_u32_be(ihdr, 4), h);
  EXPECT_EQ(ihdr[8], 8);   // bit depth
  EXPECT_EQ(ihdr[9], 2);   // RGB
  EXPECT_EQ(ihdr[10], 0);  // deflate
  EXPECT_EQ(ihdr[11], 0);  // filter method
  EXPECT_EQ(ihdr[12], 0);  // no interlace

  const size_t row_bytes = 1 + static_cast<size_t>(w) * 3;
  std::string raw(row_bytes * static_cast<size_t>(h) + 16, '\0');
  uLongf raw_size = raw.size();
  ASSERT_EQ(uncompress(reinterpret_cast<Bytef*>(raw.data()), &raw_size,
                       reinterpret_cast<const Bytef*>(chunks[1].data.data()), chunks[1].data.size()),
            Z_OK);
  ASSERT_EQ(raw_size, row_bytes * static_cast<size_t>(h));
  for (int64_t y = 0; y < h; ++y) {
    EXPECT_EQ(raw[static_cast<size_t>(y) * row_bytes], 0) << "filter byte of row " << y;
    for (int64_t x = 0; x < w; ++x) {
      const size_t at = static_cast<size_t>(y) * row_bytes + 1 + static_cast<size_t>(x) * 3;
      const Rgb expected = image.at(x, y);
      EXPECT_EQ(static_cast<uint8_t>(raw[at]), expected.r) << x << "," << y;
      EXPECT_EQ(static_cast<uint8_t>(raw[at + 1]), expected.g) << x << "," << y;
      EXPECT_EQ(static_cast<uint8_t>(raw[at + 2]), expected.b) << x << "," << y;
    }
  }
}

TEST(Png, WritesTheFileAtomicallyAndPilReadsIt) {
  test::TempDir dir;
  const std::filesystem::path path = dir / "gradient.png";
  const RgbImage image = test_image(9, 4);
  write_png(path, image);
  EXPECT_EQ(test::read_text(path), encode_png(image));

  const std::string python = "/usr/bin/python3";
  if (!std::filesystem::exists(python) || test::run_command(python + " -c 'import PIL'").exit_code != 0)
    GTEST_SKIP() << "no PIL in " << python << ": the independent decoder check did not run";
  const std::string script =
      "import sys\n"
      "from PIL import Image\n"
      "im = Image.open(sys.argv[1]); im.load()\n"
      "print(im.format, im.mode, im.size[0], im.size[1])\n"
      "print(' '.join('%d,%d,%d' % im.getpixel((x, y)) for y in range(im.size[1]) for x in range(im.size[0])))\n";
  test::write_text(dir / "read.py", script);
  const auto r = test::run_command(python + " " + test::quoted(dir / "read.py") + " " + test::quoted(path));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string expected = "PNG RGB 9 4\n";
  for (int64_t y = 0; y < 4; ++y)
    for (int64_t x = 0; x < 9; ++x) {
      const Rgb p = image.at(x, y);
      expected += std::to_string(p.r) + "," + std::to_string(p.g) + "," + std::to_string(p.b) + (x == 8 && y == 3 ? "\n" : " ");
    }
  EXPECT_EQ(r.output, expected);
}

TEST(Png, ImageBoundsAreChecked) {
  EXPECT_THROW(RgbImage(0, 3), Error);
  EXPECT_THROW(RgbImage(3, -1), Error);
  RgbImage image(2, 2, Rgb{1, 2, 3});
  EXPECT_EQ(image.at(1, 1), (Rgb{1, 2, 3}));
  EXPECT_THROW(image.at(2, 0), Error);
  EXPECT_THROW(image.set(0, 2, Rgb{}), Error);
  image.fill_rect(1, -5, 10, 6, Rgb{9, 9, 9});  // clipped to the image: only column 1, row 0
  EXPECT_EQ(image.at(1, 0), (Rgb{9, 9, 9}));
  EXPECT_EQ(image.at(0, 0), (Rgb{1, 2, 3}));
  EXPECT_EQ(image.at(1, 1), (Rgb{1, 2, 3}));
}

}  // namespace
}  // namespace dg
