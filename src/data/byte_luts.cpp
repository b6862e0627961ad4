#include "data/byte_luts.h"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <cmath>
#include <string_view>

#include "core/error.h"

namespace dg::data {

namespace {
// SentencePiece's whitespace marker U+2581 "▁" in UTF-8.
constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";
}  // namespace

ByteLuts build_byte_luts(const Tokenizer& tok, int64_t vocab_size) {
  const auto& sp = tok.processor();
  const int64_t pieces = sp.GetPieceSize();
  const int64_t table_size = std::max(pieces, vocab_size);
  ByteLuts luts;
  luts.base_bytes.assign(table_size, 0);
  luts.has_leading_space.assign(table_size, 0);
  luts.is_boundary.assign(table_size, 1);
  for (int id = 0; id < pieces; ++id) {
    if (sp.IsControl(id) || sp.IsUnknown(id) || sp.IsUnused(id)) continue;
    luts.is_boundary[id] = 0;
    if (sp.IsByte(id)) {
      luts.base_bytes[id] = 1;
      continue;
    }
    std::string_view piece = sp.IdToPiece(id);
    if (piece.starts_with(kSpaceMarker)) {
      luts.has_leading_space[id] = 1;
      piece.remove_prefix(kSpaceMarker.size());
    }
    luts.base_bytes[id] = static_cast<int16_t>(piece.size());
  }
  return luts;
}

int64_t count_target_bytes(const ByteLuts& l, const int32_t* prev_ids, const int32_t* target_ids, int64_t n) {
  const int64_t size = l.size();
  int64_t total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t prev = prev_ids[i];
    const int32_t target = target_ids[i];
    DG_CHECK(prev >= 0 && prev < size && target >= 0 && target < size,
             "byte accounting: token id " << (prev >= 0 && prev < size ? target : prev) << " at position " << i
                                          << " is outside the tokenizer tables (size " << size << ")");
    total += target_bytes(l, prev, target);
  }
  return total;
}

void BpbAccumulator::add(double loss_nats_sum, int64_t tokens, int64_t bytes) {
  loss_sum += loss_nats_sum;
  token_count += static_cast<double>(tokens);
  byte_count += static_cast<double>(bytes);
}

void BpbAccumulator::merge(const BpbAccumulator& other) {
  loss_sum += other.loss_sum;
  token_count += other.token_count;
  byte_count += other.byte_count;
}

double BpbAccumulator::val_loss() const {
  DG_CHECK(token_count > 0, "val_loss: no target tokens were scored");
  return loss_sum / token_count;
}

double BpbAccumulator::val_bpb() const {
  DG_CHECK(byte_count > 0, "val_bpb: the scored tokens cover 0 bytes (only boundary tokens?)");
  const double bits_per_token = val_loss() / std::log(2.0);
  return bits_per_token * (token_count / byte_count);
}

}  // namespace dg::data
