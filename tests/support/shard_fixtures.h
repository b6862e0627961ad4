// A small prepared-data folder written by the test itself: random tokens in challenge shards,
// to be read with the challenge's sp1024 tokenizer from ../shared/data.
#pragma once

#include <filesystem>

#include "core/rng.h"
#include "data/shard.h"

namespace dg::test {

inline void write_random_shards(const std::filesystem::path& dir, int64_t train_tokens, int64_t val_tokens,
                                int64_t vocab, uint64_t seed) {
  Rng rng(seed);
  auto make = [&](int64_t n) {
    std::vector<uint16_t> t(static_cast<size_t>(n));
    for (auto& id : t) id = static_cast<uint16_t>(rng.below(static_cast<uint64_t>(vocab)));
    return t;
  };
  data::write_shard(dir / data::shard_file_name("train", 0), make(train_tokens));
  data::write_shard(dir / data::shard_file_name("val", 0), make(val_tokens));
}

}  // namespace dg::test
