// A synthetic vocabulary for the byte-count tests of val_bpb's CUDA kernel: every kind of piece
// (boundaries, leading-space pieces, byte pieces), and random (previous, target) id pairs.
#pragma once

#include <cstdint>
#include <vector>

#include "core/rng.h"
#include "data/byte_luts.h"

namespace dg::test {

inline data::ByteLuts synthetic_byte_luts(int vocab, Rng& rng) {
  data::ByteLuts luts;
  luts.base_bytes.resize(vocab);
  luts.has_leading_space.resize(vocab);
  luts.is_boundary.resize(vocab);
  for (int t = 0; t < vocab; ++t) {
    luts.is_boundary[t] = t < 4;
    luts.base_bytes[t] = t < 4 ? 0 : static_cast<int16_t>(1 + rng.below(6));
    luts.has_leading_space[t] = t >= 4 && rng.below(3) == 0;
  }
  return luts;
}

struct IdPairs {
  std::vector<int32_t> prev, target;
};

inline IdPairs random_id_pairs(int64_t n, int vocab, Rng& rng) {
  IdPairs ids{std::vector<int32_t>(n), std::vector<int32_t>(n)};
  for (int64_t i = 0; i < n; ++i) {
    ids.prev[i] = static_cast<int32_t>(rng.below(vocab));
    ids.target[i] = static_cast<int32_t>(rng.below(vocab));
  }
  return ids;
}

}  // namespace dg::test
