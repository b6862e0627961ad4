#include "data/token_loader.h"

#include <algorithm>

#include "core/error.h"
#include "core/fs.h"
#include "data/shard.h"

namespace dg::data {

namespace {

void check_vocab_size(int64_t vocab_size) {
  DG_CHECK(vocab_size > 0, "VOCAB_SIZE must be positive to check token ids, got " << vocab_size);
}

// Sum of the token counts in the headers; validates every header and file size on the way.
int64_t total_tokens(const std::vector<std::filesystem::path>& files) {
  int64_t total = 0;
  for (const auto& file : files) total += read_shard_header(file).num_tokens;
  return total;
}

int checked_rank(int rank, int world_size) {
  DG_CHECK(world_size >= 1, "WORLD_SIZE must be >= 1, got " << world_size);
  DG_CHECK(rank >= 0 && rank < world_size, "RANK=" << rank << " is outside [0, WORLD_SIZE=" << world_size << ")");
  return rank;
}

}  // namespace

TokenStream::TokenStream(const std::string& pattern, int64_t vocab_size)
    : vocab_size_(vocab_size) {
  check_vocab_size(vocab_size);
  files_ = glob_sorted(pattern);
  // Without this check an all-empty pattern would make take() spin forever looking for a token.
  DG_CHECK(total_tokens(files_) > 0,
           "all " << files_.size() << " shard(s) matching " << pattern << " hold 0 tokens");
  load_file(0);
}

void TokenStream::load_file(size_t index) {
  file_index_ = index;
  tokens_ = read_shard(files_[index], vocab_size_);
  pos_ = 0;
}

void TokenStream::seek(const Position& p) {
  DG_CHECK(p.file_index >= 0 && p.file_index < static_cast<int64_t>(files_.size()),
           "cannot continue the training stream at shard " << p.file_index << ": only " << files_.size()
                                                           << " shard(s) match now (the data folder changed?)");
  load_file(static_cast<size_t>(p.file_index));
  DG_CHECK(p.position >= 0 && p.position <= static_cast<int64_t>(tokens_.size()),
           "cannot continue the training stream at token " << p.position << " of " << files_[file_index_].string()
                                                           << ", which holds " << tokens_.size()
                                                           << " tokens (the data folder changed?)");
  pos_ = static_cast<size_t>(p.position);
}

void TokenStream::take(int64_t n, uint16_t* out) {
  DG_CHECK(n >= 0, "TokenStream::take: token count must be >= 0, got " << n);
  auto remaining = static_cast<size_t>(n);
  while (remaining > 0) {
    const size_t available = tokens_.size() - pos_;
    if (available == 0) {
      // Like the reference, the next shard is opened only when a token from it is needed; empty
      // shards are simply passed over.
      load_file((file_index_ + 1) % files_.size());
      continue;
    }
    const size_t k = std::min(remaining, available);
    std::copy_n(tokens_.begin() + static_cast<std::ptrdiff_t>(pos_), k, out);
    out += k;
    pos_ += k;
    remaining -= k;
  }
}

DistributedTokenLoader::DistributedTokenLoader(const std::string& pattern, int rank, int world_size,
                                               int64_t vocab_size)
    : rank_(checked_rank(rank, world_size)), world_size_(world_size), stream_(pattern, vocab_size) {}

void DistributedTokenLoader::next_batch(int64_t global_tokens, int64_t seq_len, int64_t grad_accum_steps,
                                        TokenBatch& batch) {
  DG_CHECK(global_tokens > 0, "TRAIN_BATCH_TOKENS must be positive, got " << global_tokens);
  DG_CHECK(seq_len > 0, "TRAIN_SEQ_LEN must be positive, got " << seq_len);
  DG_CHECK(grad_accum_steps > 0, "grad_accum_steps must be positive, got " << grad_accum_steps);
  const int64_t parts = world_size_ * grad_accum_steps;
  DG_CHECK(global_tokens % parts == 0,
           "TRAIN_BATCH_TOKENS=" << global_tokens << " is not divisible by WORLD_SIZE=" << world_size_
                                 << " × grad_accum_steps=" << grad_accum_steps << " = " << parts);
  const int64_t local_tokens = global_tokens / parts;
  DG_CHECK(local_tokens % seq_len == 0,
           "TRAIN_BATCH_TOKENS=" << global_tokens << " gives " << local_tokens
                                 << " tokens per rank and micro-step (/ WORLD_SIZE=" << world_size_
                                 << " / grad_accum_steps=" << grad_accum_steps
                                 << "), which is not a multiple of TRAIN_SEQ_LEN=" << seq_len);

  // One contiguous span for all ranks; each rank keeps its own (local + 1)-token slice, the extra
  // token being the last target. Every rank reads the whole span so that the streams stay in step.
  const int64_t span = local_tokens + 1;
  chunk_.resize(static_cast<size_t>(span * world_size_));
  stream_.take(span * world_size_, chunk_.data());
  const uint16_t* mine = chunk_.data() + rank_ * span;

  batch.seq_len = seq_len;
  batch.inputs.resize(static_cast<size_t>(local_tokens));
  batch.targets.resize(static_cast<size_t>(local_tokens));
  std::copy_n(mine, local_tokens, batch.inputs.begin());
  std::copy_n(mine + 1, local_tokens, batch.targets.begin());
}

std::vector<uint16_t> load_validation_tokens(const std::string& pattern, int64_t seq_len, int64_t vocab_size) {
  DG_CHECK(seq_len > 0, "TRAIN_SEQ_LEN must be positive, got " << seq_len);
  check_vocab_size(vocab_size);
  const auto files = glob_sorted(pattern);
  std::vector<uint16_t> tokens;
  tokens.reserve(static_cast<size_t>(total_tokens(files)));
  for (const auto& file : files) {
    const auto shard = read_shard(file, vocab_size);
    tokens.insert(tokens.end(), shard.begin(), shard.end());
  }
  const auto n = static_cast<int64_t>(tokens.size());
  const int64_t usable = n > 0 ? ((n - 1) / seq_len) * seq_len : 0;
  DG_CHECK(usable > 0, "validation split too short for TRAIN_SEQ_LEN=" << seq_len << ": " << n
                                                                         << " tokens in " << files.size()
                                                                         << " file(s) matching " << pattern
                                                                         << ", need at least " << seq_len + 1);
  tokens.resize(static_cast<size_t>(usable + 1));
  return tokens;
}

}  // namespace dg::data
