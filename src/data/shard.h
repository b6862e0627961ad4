// The challenge's token shard format (fineweb_{train,val}_NNNNNN.bin):
//   header: 256 little-endian int32 — [0] magic 20240520, [1] version 1, [2] token count, rest 0
//   body:   token count × little-endian uint16 token ids
// Every reader validates the header, the file size and (given a vocab size) every token id, and
// throws dg::Error naming the file and the problem.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace dg::data {

constexpr int32_t kShardMagic = 20240520;
constexpr int32_t kShardVersion = 1;
constexpr int64_t kShardHeaderInts = 256;
constexpr int64_t kShardHeaderBytes = kShardHeaderInts * 4;

struct ShardInfo {
  std::filesystem::path path;
  int64_t num_tokens = 0;
};

// Validates magic, version, token count and exact file size ("truncated", "size mismatch").
ShardInfo read_shard_header(const std::filesystem::path& path);
// Whole shard; vocab_size > 0 also checks every id < vocab_size ("token id 1030 at index 17 >= vocab 1024"),
// 0 skips that check. Layout, rules and messages: docs/shard-format.md.
std::vector<uint16_t> read_shard(const std::filesystem::path& path, int64_t vocab_size = 0);
// Writes atomically (temporary file + rename); tokens.size() must fit the int32 count field.
void write_shard(const std::filesystem::path& path, std::span<const uint16_t> tokens);
// "fineweb_train_000000.bin" style name for split "train"/"val" and index in [0, 999999] (six
// zero-padded digits, so name order is index order).
std::string shard_file_name(const std::string& split, int index);

}  // namespace dg::data
