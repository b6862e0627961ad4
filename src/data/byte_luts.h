// val_bpb byte accounting, exactly as the challenge's train_gpt.py does it
// (build_sentencepiece_luts + eval_val):
//   - control, unknown and unused pieces are "boundaries" worth 0 bytes;
//   - byte-fallback pieces (<0xNN>) are worth 1 byte;
//   - any other piece is worth the UTF-8 length of its text without a leading "▁";
//   - a piece with a leading "▁" earns one more byte (the space) unless the previous token is a
//     boundary — the space that starts a document after BOS is not counted.
// Ids at or beyond the model's piece count (a model smaller than the configured vocab) are
// boundaries worth 0 bytes, as in the challenge's tables of size max(sp vocab, vocab_size).
// val_bpb = (Σ nats / ln 2) / Σ bytes, computed as (val_loss / ln 2) · (tokens / bytes).
#pragma once

#include <cstdint>
#include <vector>

#include "data/tokenizer.h"

namespace dg::data {

struct ByteLuts {
  std::vector<int16_t> base_bytes;
  std::vector<uint8_t> has_leading_space;
  std::vector<uint8_t> is_boundary;
  int64_t size() const { return static_cast<int64_t>(base_bytes.size()); }
};

// Tables of size max(tokenizer pieces, vocab_size).
ByteLuts build_byte_luts(const Tokenizer& tok, int64_t vocab_size);

// Bytes credited to target `target` when the previous token is `prev` (the challenge's rule).
// Both ids must be < l.size(); count_target_bytes checks that, this hot-path helper does not.
inline int target_bytes(const ByteLuts& l, int prev, int target) {
  return l.base_bytes[target] + ((l.has_leading_space[target] != 0 && l.is_boundary[prev] == 0) ? 1 : 0);
}

// Σ target_bytes(prev_ids[i], target_ids[i]) over i < n; an id outside the tables is an error.
int64_t count_target_bytes(const ByteLuts& l, const int32_t* prev_ids, const int32_t* target_ids, int64_t n);

// Accumulates an eval: loss in nats summed over target tokens, the tokens, and their bytes.
// Shards of an eval (batches, ranks) merge by adding; the result does not depend on the order.
struct BpbAccumulator {
  double loss_sum = 0;
  double token_count = 0;
  double byte_count = 0;

  void add(double loss_nats_sum, int64_t tokens, int64_t bytes);
  void merge(const BpbAccumulator& other);
  // Mean loss per target token in nats; an error when nothing was added.
  double val_loss() const;
  // (val_loss / ln 2) · (tokens / bytes), as train_gpt.py computes it; an error when no bytes.
  double val_bpb() const;
};

}  // namespace dg::data
