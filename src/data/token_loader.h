// The challenge's training-data stream, token for token as train_gpt.py's TokenStream,
// DistributedTokenLoader and load_validation_tokens see it (docs/shard-format.md):
//   - shards matching the pattern are read in name order and wrapped around forever;
//   - each micro-step takes ONE contiguous span of world_size × (local_tokens + 1) tokens from the
//     shared stream, rank r keeps [r·(local+1), (r+1)·(local+1)), inputs = span[:-1], targets = span[1:];
//   - validation is every val shard concatenated, cut to whole sequences plus one target token.
// Every rank runs its own loader over the same files, so all ranks advance the stream identically
// without communicating. Token ids are checked against the vocab as each shard is loaded.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace dg::data {

// Sequential reader over the sorted shards; wraps forever; holds one shard in memory at a time.
class TokenStream {
 public:
  // Throws when no file matches, when any matching file has a bad header or size (all headers are
  // checked here, so a bad shard fails at start-up rather than hours into a run), or when every
  // shard is empty.
  TokenStream(const std::string& pattern, int64_t vocab_size);

  // Copies the next n tokens of the endless stream to out[0..n).
  void take(int64_t n, uint16_t* out);
  const std::vector<std::filesystem::path>& files() const { return files_; }

  // Where the stream stands: the next token is token `position` of shard `file_index`.
  struct Position {
    int64_t file_index = 0, position = 0;
  };
  Position position() const { return {static_cast<int64_t>(file_index_), static_cast<int64_t>(pos_)}; }
  // Continues from a saved position (a resumed run); throws when it does not exist in these shards.
  void seek(const Position& p);

 private:
  void load_file(size_t index);

  int64_t vocab_size_;
  std::vector<std::filesystem::path> files_;
  size_t file_index_ = 0;
  std::vector<uint16_t> tokens_;  // the current shard
  size_t pos_ = 0;                // next unread token of tokens_
};

// inputs and targets are (rows × seq_len) row-major, rows = local tokens / seq_len.
struct TokenBatch {
  std::vector<int32_t> inputs, targets;
  int64_t seq_len = 0;
};

class DistributedTokenLoader {
 public:
  DistributedTokenLoader(const std::string& pattern, int rank, int world_size, int64_t vocab_size);

  // One micro-step's batch for this rank, exactly as train_gpt.py's
  // next_batch(global_tokens, seq_len, grad_accum_steps): local = global / (world × accum) tokens.
  // Unlike the reference (which floors, then fails inside a reshape), uneven settings are an error
  // naming TRAIN_BATCH_TOKENS, WORLD_SIZE, grad_accum_steps and TRAIN_SEQ_LEN.
  // `batch`'s vectors are reused: no allocation once their size is reached.
  void next_batch(int64_t global_tokens, int64_t seq_len, int64_t grad_accum_steps, TokenBatch& batch);
  int64_t num_shards() const { return static_cast<int64_t>(stream_.files().size()); }
  TokenStream::Position position() const { return stream_.position(); }
  void seek(const TokenStream::Position& p) { stream_.seek(p); }

 private:
  int rank_;
  int world_size_;
  TokenStream stream_;
  std::vector<uint16_t> chunk_;  // all ranks' spans of one call, reused
};

// All shards matching `pattern` (the fineweb_val_* files) concatenated in name order and truncated to
// ((n − 1) / seq_len) · seq_len + 1 tokens; throws "validation split too short for TRAIN_SEQ_LEN=..."
// when not even one full sequence (plus its last target) is there.
std::vector<uint16_t> load_validation_tokens(const std::string& pattern, int64_t seq_len, int64_t vocab_size);

}  // namespace dg::data
