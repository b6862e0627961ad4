// The challenge shard format: exact byte layout, round trip, and one clear error per kind of bad file.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/shard.h"
#include "test_support.h"

namespace dg::data {
namespace {

namespace fs = std::filesystem;
using dg::test::TempDir;

void put_int32_le(std::string& bytes, size_t offset, int32_t value) {
  const auto u = static_cast<uint32_t>(value);
  for (int i = 0; i < 4; ++i) bytes[offset + i] = static_cast<char>((u >> (8 * i)) & 0xFF);
}

// A shard built byte by byte, independent of write_shard, so header fields can be corrupted.
std::string raw_shard(int32_t magic, int32_t version, int32_t count, const std::vector<uint16_t>& tokens) {
  std::string bytes(kShardHeaderBytes, '\0');
  put_int32_le(bytes, 0, magic);
  put_int32_le(bytes, 4, version);
  put_int32_le(bytes, 8, count);
  for (uint16_t t : tokens) {
    bytes.push_back(static_cast<char>(t & 0xFF));
    bytes.push_back(static_cast<char>(t >> 8));
  }
  return bytes;
}

// Runs `read` and returns the dg::Error message; fails the test if nothing was thrown.
template <typename Fn>
std::string error_of(Fn&& read) {
  try {
    read();
  } catch (const dg::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a dg::Error";
  return {};
}

// Both readers must reject the file with a message naming it and the problem.
void expect_rejected(const fs::path& file, const std::string& problem) {
  for (const std::string& message : {error_of([&] { read_shard_header(file); }),
                                     error_of([&] { read_shard(file, 1024); })}) {
    EXPECT_NE(message.find(file.string()), std::string::npos) << message;
    EXPECT_NE(message.find(problem), std::string::npos) << message;
  }
}

TEST(Shard, WriteReadRoundTrip) {
  TempDir dir;
  std::vector<uint16_t> tokens;
  for (int i = 0; i < 5000; ++i) tokens.push_back(static_cast<uint16_t>((i * 7919) % 65536));
  tokens.push_back(65535);  // the largest id survives (unsigned, both bytes set)
  const fs::path file = dir / "fineweb_train_000000.bin";
  write_shard(file, tokens);
  EXPECT_EQ(read_shard_header(file).num_tokens, static_cast<int64_t>(tokens.size()));
  EXPECT_EQ(read_shard(file), tokens);
}

TEST(Shard, EmptyShardRoundTrips) {
  TempDir dir;
  const fs::path file = dir / "empty.bin";
  write_shard(file, {});
  EXPECT_EQ(fs::file_size(file), static_cast<uintmax_t>(kShardHeaderBytes));
  EXPECT_TRUE(read_shard(file, 1024).empty());
}

TEST(Shard, ByteLayoutIsLittleEndianChallengeFormat) {
  TempDir dir;
  const fs::path file = dir / "layout.bin";
  write_shard(file, std::vector<uint16_t>{0x0102, 0xA0B0, 7});
  EXPECT_EQ(dg::test::read_text(file), raw_shard(20240520, 1, 3, {0x0102, 0xA0B0, 7}));
  const std::string bytes = dg::test::read_text(file);
  ASSERT_EQ(bytes.size(), 1024u + 6u);
  // 20240520 = 0x0134D888, stored low byte first; the unused header ints are zero.
  EXPECT_EQ(static_cast<unsigned char>(bytes[0]), 0x88);
  EXPECT_EQ(static_cast<unsigned char>(bytes[1]), 0xD8);
  EXPECT_EQ(static_cast<unsigned char>(bytes[2]), 0x34);
  EXPECT_EQ(static_cast<unsigned char>(bytes[3]), 0x01);
  EXPECT_EQ(bytes.substr(12, 1012), std::string(1012, '\0'));
  EXPECT_EQ(static_cast<unsigned char>(bytes[1024]), 0x02);
  EXPECT_EQ(static_cast<unsigned char>(bytes[1025]), 0x01);
}

TEST(Shard, ReadsAHandBuiltShard) {
  TempDir dir;
  const fs::path file = dir / "hand.bin";
  dg::test::write_text(file, raw_shard(kShardMagic, kShardVersion, 4, {1, 2, 1023, 0}));
  EXPECT_EQ(read_shard(file, 1024), (std::vector<uint16_t>{1, 2, 1023, 0}));
}

TEST(Shard, WriteIsAtomicAndReplacesTheOldFile) {
  TempDir dir;
  const fs::path file = dir / "fineweb_val_000000.bin";
  write_shard(file, std::vector<uint16_t>(100, 3));
  write_shard(file, std::vector<uint16_t>{9, 8});
  EXPECT_EQ(read_shard(file), (std::vector<uint16_t>{9, 8}));
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1) << "a temporary file was left beside the shard";
}

TEST(Shard, BadMagicIsRejected) {
  TempDir dir;
  const fs::path file = dir / "magic.bin";
  dg::test::write_text(file, raw_shard(12345, 1, 2, {1, 2}));
  expect_rejected(file, "bad magic 12345");
}

TEST(Shard, BadVersionIsRejected) {
  TempDir dir;
  const fs::path file = dir / "version.bin";
  dg::test::write_text(file, raw_shard(kShardMagic, 2, 2, {1, 2}));
  expect_rejected(file, "bad version 2");
}

TEST(Shard, FileShorterThanHeaderIsTruncated) {
  TempDir dir;
  const fs::path file = dir / "short_header.bin";
  dg::test::write_text(file, raw_shard(kShardMagic, 1, 0, {}).substr(0, 100));
  expect_rejected(file, "truncated: 100 bytes, shorter than the 1024-byte header");
}

TEST(Shard, FileShorterThanItsCountIsTruncated) {
  TempDir dir;
  const fs::path file = dir / "short_body.bin";
  dg::test::write_text(file, raw_shard(kShardMagic, 1, 5, {1, 2, 3}));
  expect_rejected(file, "truncated: header says 5 tokens (1034 bytes) but the file has 1030 bytes");
}

TEST(Shard, FileLongerThanItsCountIsASizeMismatch) {
  TempDir dir;
  const fs::path file = dir / "long.bin";
  dg::test::write_text(file, raw_shard(kShardMagic, 1, 2, {1, 2, 3}));
  expect_rejected(file, "size mismatch: header says 2 tokens (1028 bytes) but the file has 1030 bytes");
}

TEST(Shard, OddTrailingByteIsASizeMismatch) {
  TempDir dir;
  const fs::path file = dir / "odd.bin";
  dg::test::write_text(file, raw_shard(kShardMagic, 1, 2, {1, 2}) + "x");
  expect_rejected(file, "size mismatch");
}

TEST(Shard, NegativeCountIsRejected) {
  TempDir dir;
  const fs::path file = dir / "negative.bin";
  dg::test::write_text(file, raw_shard(kShardMagic, 1, -3, {}));
  expect_rejected(file, "negative token count -3");
}

TEST(Shard, TokenOutOfVocabNamesIdIndexAndVocab) {
  TempDir dir;
  const fs::path file = dir / "fineweb_train_000003.bin";
  std::vector<uint16_t> tokens(20, 5);
  tokens[17] = 1030;
  tokens[19] = 2000;  // only the first offender is reported
  write_shard(file, tokens);
  const std::string message = error_of([&] { read_shard(file, 1024); });
  EXPECT_NE(message.find(file.string()), std::string::npos) << message;
  EXPECT_NE(message.find("token id 1030 at index 17 >= vocab 1024"), std::string::npos) << message;
  // The header alone is fine, and without a vocab no id check is made.
  EXPECT_EQ(read_shard_header(file).num_tokens, 20);
  EXPECT_EQ(read_shard(file).size(), 20u);
  // vocab itself is already out of range; vocab - 1 is the largest valid id.
  tokens[17] = 5;
  tokens[19] = 1024;
  write_shard(file, tokens);
  EXPECT_NE(error_of([&] { read_shard(file, 1024); }).find("token id 1024 at index 19 >= vocab 1024"), std::string::npos);
  tokens[17] = 1023;
  tokens[19] = 1023;
  write_shard(file, tokens);
  EXPECT_EQ(read_shard(file, 1024), tokens);
}

TEST(Shard, MissingFileIsNamed) {
  TempDir dir;
  const fs::path file = dir / "absent.bin";
  expect_rejected(file, "no such file");
}

TEST(Shard, FileNamesAreZeroPaddedAndValidated) {
  EXPECT_EQ(shard_file_name("train", 0), "fineweb_train_000000.bin");
  EXPECT_EQ(shard_file_name("val", 12), "fineweb_val_000012.bin");
  EXPECT_EQ(shard_file_name("train", 999999), "fineweb_train_999999.bin");
  EXPECT_THROW(shard_file_name("test", 0), dg::Error);
  EXPECT_THROW(shard_file_name("train", -1), dg::Error);
  EXPECT_THROW(shard_file_name("train", 1000000), dg::Error);
}

}  // namespace
}  // namespace dg::data
