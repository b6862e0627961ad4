// The token stream and loaders against hand-computed spans. The shards hold "counting" tokens: the
// token at stream position s (over all shards, before wrap-around) is s mod vocab, so the expected
// value of any position is (s mod total_tokens) mod vocab.
#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/shard.h"
#include "data/token_loader.h"
#include "test_support.h"

namespace dg::data {
namespace {

namespace fs = std::filesystem;
using dg::test::TempDir;

// Writes fineweb_<split>_00000i.bin with sizes[i] counting tokens each; returns the glob pattern.
std::string write_counting_shards(const TempDir& dir, const std::string& split, const std::vector<int>& sizes,
                                  int vocab) {
  int next = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    std::vector<uint16_t> tokens;
    for (int j = 0; j < sizes[i]; ++j) tokens.push_back(static_cast<uint16_t>(next++ % vocab));
    write_shard(dir / shard_file_name(split, static_cast<int>(i)), tokens);
  }
  return (dir.path() / ("fineweb_" + split + "_*.bin")).string();
}

std::vector<int32_t> range(int32_t first, int32_t count) {
  std::vector<int32_t> v(static_cast<size_t>(count));
  std::iota(v.begin(), v.end(), first);
  return v;
}

template <typename Fn>
std::string error_of(Fn&& action) {
  try {
    action();
  } catch (const dg::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a dg::Error";
  return {};
}

std::vector<uint16_t> take(TokenStream& stream, int64_t n) {
  std::vector<uint16_t> out(static_cast<size_t>(n));
  stream.take(n, out.data());
  return out;
}

// ---- TokenStream ---------------------------------------------------------------------------------

TEST(TokenStream, CrossesShardBoundariesAndWrapsToTheFirstShard) {
  TempDir dir;
  const auto pattern = write_counting_shards(dir, "train", {100, 50, 30}, 1024);  // 180 tokens
  TokenStream stream(pattern, 1024);
  ASSERT_EQ(stream.files().size(), 3u);

  const auto a = take(stream, 90);  // inside shard 0
  EXPECT_EQ(a.front(), 0);
  EXPECT_EQ(a.back(), 89);
  const auto b = take(stream, 70);  // 90..159: across shard 0→1 (at 100) and 1→2 (at 150)
  for (int i = 0; i < 70; ++i) EXPECT_EQ(b[i], 90 + i) << i;
  const auto c = take(stream, 40);  // 160..179 then back to shard 0: 0..19
  for (int i = 0; i < 20; ++i) EXPECT_EQ(c[i], 160 + i) << i;
  for (int i = 20; i < 40; ++i) EXPECT_EQ(c[i], i - 20) << i;

  // A request longer than the whole data set wraps more than once.
  const auto d = take(stream, 400);  // stream positions 200..599
  for (int i = 0; i < 400; ++i) EXPECT_EQ(d[i], (200 + i) % 180) << i;
}

TEST(TokenStream, TokensAreCountedModuloTheVocab) {
  TempDir dir;
  const auto pattern = write_counting_shards(dir, "train", {40, 25}, 16);
  TokenStream stream(pattern, 16);
  const auto t = take(stream, 130);
  for (int s = 0; s < 130; ++s) EXPECT_EQ(t[s], (s % 65) % 16) << s;
}

TEST(TokenStream, SkipsEmptyShards) {
  TempDir dir;
  const auto pattern = write_counting_shards(dir, "train", {5, 0, 3}, 1024);
  TokenStream stream(pattern, 1024);
  EXPECT_EQ(take(stream, 10), (std::vector<uint16_t>{0, 1, 2, 3, 4, 5, 6, 7, 0, 1}));
}

TEST(TokenStream, TakeZeroTakesNothing) {
  TempDir dir;
  const auto pattern = write_counting_shards(dir, "train", {4}, 1024);
  TokenStream stream(pattern, 1024);
  stream.take(0, nullptr);
  EXPECT_EQ(take(stream, 2), (std::vector<uint16_t>{0, 1}));
}

TEST(TokenStream, AllEmptyShardsAreAnError) {
  TempDir dir;
  const auto pattern = write_counting_shards(dir, "train", {0, 0}, 1024);
  const std::string message = error_of([&] { TokenStream stream(pattern, 1024); });
  EXPECT_NE(message.find(pattern), std::string::npos) << message;
  EXPECT_NE(message.find("hold 0 tokens"), std::string::npos) << message;
}

TEST(TokenStream, NoMatchingFilesNamesThePattern) {
  TempDir dir;
  write_counting_shards(dir, "val", {10}, 1024);  // val files must not satisfy a train pattern
  const std::string pattern = (dir.path() / "fineweb_train_*.bin").string();
  const std::string message = error_of([&] { TokenStream stream(pattern, 1024); });
  EXPECT_NE(message.find("no files match"), std::string::npos) << message;
  EXPECT_NE(message.find(pattern), std::string::npos) << message;
}

TEST(TokenStream, ShardsAreReadInSortedNameOrder) {
  TempDir dir;
  // Created out of order; shard k holds four copies of k. Zero padding puts 10 after 2.
  for (int index : {10, 2, 0, 1}) {
    write_shard(dir / shard_file_name("train", index), std::vector<uint16_t>(4, static_cast<uint16_t>(index)));
  }
  TokenStream stream((dir.path() / "fineweb_train_*.bin").string(), 1024);
  ASSERT_EQ(stream.files().size(), 4u);
  EXPECT_EQ(stream.files()[0].filename(), "fineweb_train_000000.bin");
  EXPECT_EQ(stream.files()[1].filename(), "fineweb_train_000001.bin");
  EXPECT_EQ(stream.files()[2].filename(), "fineweb_train_000002.bin");
  EXPECT_EQ(stream.files()[3].filename(), "fineweb_train_000010.bin");
  EXPECT_EQ(take(stream, 16),
            (std::vector<uint16_t>{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 10, 10, 10, 10}));
}

TEST(TokenStream, BadHeaderInAnyShardFailsAtConstruction) {
  TempDir dir;
  const auto pattern = write_counting_shards(dir, "train", {10, 10, 10}, 1024);
  const fs::path bad = dir / shard_file_name("train", 2);
  std::string bytes = dg::test::read_text(bad);
  bytes.pop_back();  // now shorter than its header says
  dg::test::write_text(bad, bytes);
  const std::string message = error_of([&] { TokenStream stream(pattern, 1024); });
  EXPECT_NE(message.find(bad.string()), std::string::npos) << message;
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
}

TEST(TokenStream, TokenOutOfVocabFailsWhenItsShardIsLoaded) {
  TempDir dir;
  write_shard(dir / shard_file_name("train", 0), std::vector<uint16_t>{1, 2, 3});
  write_shard(dir / shard_file_name("train", 1), std::vector<uint16_t>{4, 1024, 5});
  TokenStream stream((dir.path() / "fineweb_train_*.bin").string(), 1024);
  EXPECT_EQ(take(stream, 3), (std::vector<uint16_t>{1, 2, 3}));
  const std::string message = error_of([&] { take(stream, 1); });
  EXPECT_NE(message.find((dir / shard_file_name("train", 1)).string()), std::string::npos) << message;
  EXPECT_NE(message.find("token id 1024 at index 1 >= vocab 1024"), std::string::npos) << message;
}

// ---- DistributedTokenLoader ----------------------------------------------------------------------

TEST(DistributedTokenLoader, WorldSizeOneTakesConsecutiveSpansOfLocalPlusOne) {
  TempDir dir;
  const auto pattern = write_counting_shards(dir, "train", {100, 50, 30}, 1024);
  DistributedTokenLoader loader(pattern, 0, 1, 1024);
  EXPECT_EQ(loader.num_shards(), 3);
  TokenBatch batch;
  loader.next_batch(8, 4, 1, batch);  // local 8, span 9: stream [0, 9)
  EXPECT_EQ(batch.seq_len, 4);
  EXPECT_EQ(batch.inputs, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(batch.targets, (std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  loader.next_batch(8, 4, 1, batch);  // stream [9, 18): the +1 token is not reused
  EXPECT_EQ(batch.inputs, (std::vector<int32_t>{9, 10, 11, 12, 13, 14, 15, 16}));
  EXPECT_EQ(batch.targets, (std::vector<int32_t>{10, 11, 12, 13, 14, 15, 16, 17}));
}

TEST(DistributedTokenLoader, WorldSizeTwoSplitsOneSharedSpan) {
  TempDir dir;
  const auto pattern = write_counting_shards(dir, "train", {100, 50, 30}, 1024);
  DistributedTokenLoader rank0(pattern, 0, 2, 1024);
  DistributedTokenLoader rank1(pattern, 1, 2, 1024);
  TokenBatch b0, b1;
  // global 8 over 2 ranks: local 4, span 5, each call consumes 10 tokens.
  rank0.next_batch(8, 2, 1, b0);
  rank1.next_batch(8, 2, 1, b1);
  EXPECT_EQ(b0.inputs, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(b0.targets, (std::vector<int32_t>{1, 2, 3, 4}));
  EXPECT_EQ(b1.inputs, (std::vector<int32_t>{5, 6, 7, 8}));
  EXPECT_EQ(b1.targets, (std::vector<int32_t>{6, 7, 8, 9}));
  rank0.next_batch(8, 2, 1, b0);
  rank1.next_batch(8, 2, 1, b1);
  EXPECT_EQ(b0.inputs, (std::vector<int32_t>{10, 11, 12, 13}));
  EXPECT_EQ(b1.inputs, (std::vector<int32_t>{15, 16, 17, 18}));
  EXPECT_EQ(b1.targets, (std::vector<int32_t>{16, 17, 18, 19}));
}

TEST(DistributedTokenLoader, WorldSizeEightIncludingWrapAround) {
  TempDir dir;
  const auto pattern = write_counting_shards(dir, "train", {100, 50, 30}, 1024);  // 180 tokens
  // global 64 over 8 ranks: local 8, span 9, chunk 72; call k, rank r starts at 72k + 9r.
  std::vector<TokenBatch> last(8);
  for (int rank = 0; rank < 8; ++rank) {
    DistributedTokenLoader loader(pattern, rank, 8, 1024);
    for (int call = 0; call < 3; ++call) {
      loader.next_batch(64, 4, 1, last[rank]);
      const int start = 72 * call + 9 * rank;
      ASSERT_EQ(last[rank].inputs.size(), 8u);
      for (int i = 0; i < 8; ++i) {
        EXPECT_EQ(last[rank].inputs[i], (start + i) % 180) << "rank " << rank << " call " << call;
        EXPECT_EQ(last[rank].targets[i], (start + i + 1) % 180) << "rank " << rank << " call " << call;
      }
    }
  }
  // Call 2 covers stream positions 144..215, wrapping at 180. Spot checks by hand:
  EXPECT_EQ(last[0].inputs, range(144, 8));  // 144..151
  EXPECT_EQ(last[3].inputs, range(171, 8));  // 171..178
  EXPECT_EQ(last[3].targets, range(172, 8));  // ends on the last token, 179
  EXPECT_EQ(last[4].inputs, range(0, 8));    // starts exactly on the wrap: 180 → 0
  EXPECT_EQ(last[7].inputs, range(27, 8));   // 207 → 27
  EXPECT_EQ(last[7].targets, range(28, 8));
}

TEST(DistributedTokenLoader, SpanStraddlingTheWrapKeepsStreamOrder) {
  TempDir dir;
  const auto pattern = write_counting_shards(dir, "train", {7, 6}, 1024);  // 13 tokens
  DistributedTokenLoader loader(pattern, 0, 1, 1024);
  TokenBatch batch;
  loader.next_batch(4, 2, 1, batch);  // [0, 5)
  loader.next_batch(4, 2, 1, batch);  // [5, 10): crosses the 7-token shard boundary
  EXPECT_EQ(batch.inputs, (std::vector<int32_t>{5, 6, 7, 8}));
  loader.next_batch(4, 2, 1, batch);  // [10, 15) = 10, 11, 12, 0, 1
  EXPECT_EQ(batch.inputs, (std::vector<int32_t>{10, 11, 12, 0}));
  EXPECT_EQ(batch.targets, (std::vector<int32_t>{11, 12, 0, 1}));
}

TEST(DistributedTokenLoader, GradAccumDividesTheGlobalBatchAcrossMicroSteps) {
  TempDir dir;
  const auto pattern = write_counting_shards(dir, "train", {100, 50, 30}, 1024);
  // WORLD_SIZE 2, grad_accum 4, TRAIN_BATCH_TOKENS 32: local 32 / (2·4) = 4 tokens, span 5,
  // 10 tokens per micro-step; micro-step m of rank r starts at 10m + 5r.
  DistributedTokenLoader rank1(pattern, 1, 2, 1024);
  TokenBatch batch;
  for (int micro = 0; micro < 4; ++micro) {
    rank1.next_batch(32, 4, 4, batch);
    EXPECT_EQ(batch.inputs, range(10 * micro + 5, 4)) << micro;
    EXPECT_EQ(batch.targets, range(10 * micro + 6, 4)) << micro;
  }
  EXPECT_EQ(batch.inputs, (std::vector<int32_t>{35, 36, 37, 38}));
  // A full optimizer step (4 micro-steps) consumed 4 · 2 · 5 = 40 tokens: the next starts at 40.
  rank1.next_batch(32, 4, 4, batch);
  EXPECT_EQ(batch.inputs, range(45, 4));

  // Rows: 16 local tokens with TRAIN_SEQ_LEN 4 are 4 rows, row-major.
  DistributedTokenLoader single(pattern, 0, 1, 1024);
  single.next_batch(32, 4, 2, batch);
  EXPECT_EQ(batch.inputs.size(), 16u);
  EXPECT_EQ(batch.seq_len, 4);
  EXPECT_EQ(batch.inputs, range(0, 16));
  EXPECT_EQ(batch.targets, range(1, 16));
}

TEST(DistributedTokenLoader, RanksTimesAccumulationSeeWhatOneProcessSeesAlone) {
  // The reason 2 ranks reproduce 1 rank's training: with the same global batch, rank r's micro-step m
  // is micro-step m·WORLD_SIZE + r of one process accumulating WORLD_SIZE times as many, token for
  // token, across shard boundaries and the wrap-around.
  TempDir dir;
  const auto pattern = write_counting_shards(dir, "train", {97, 61, 45}, 1024);
  constexpr int64_t kGlobal = 64, kSeq = 4, kSteps = 7;
  for (const int world : {2, 4}) {
    for (const int accum : {1, 2}) {
      SCOPED_TRACE("WORLD_SIZE " + std::to_string(world) + " x grad_accum_steps " + std::to_string(accum));
      DistributedTokenLoader alone(pattern, 0, 1, 1024);
      std::vector<DistributedTokenLoader> ranks;
      for (int r = 0; r < world; ++r) ranks.emplace_back(pattern, r, world, 1024);
      TokenBatch expected, got;
      for (int64_t step = 0; step < kSteps; ++step) {
        std::vector<TokenBatch> single(static_cast<size_t>(world * accum));
        for (TokenBatch& b : single) alone.next_batch(kGlobal, kSeq, world * accum, b);
        for (int m = 0; m < accum; ++m)
          for (int r = 0; r < world; ++r) {
            ranks[static_cast<size_t>(r)].next_batch(kGlobal, kSeq, accum, got);
            const TokenBatch& want = single[static_cast<size_t>(m * world + r)];
            EXPECT_EQ(got.inputs, want.inputs) << "step " << step << " micro " << m << " rank " << r;
            EXPECT_EQ(got.targets, want.targets) << "step " << step << " micro " << m << " rank " << r;
          }
      }
    }
  }
}

TEST(DistributedTokenLoader, ReusesTheBatchVectors) {
  TempDir dir;
  const auto pattern = write_counting_shards(dir, "train", {100}, 1024);
  DistributedTokenLoader loader(pattern, 0, 1, 1024);
  TokenBatch batch;
  loader.next_batch(8, 4, 1, batch);
  const int32_t* inputs = batch.inputs.data();
  const int32_t* targets = batch.targets.data();
  loader.next_batch(8, 4, 1, batch);
  EXPECT_EQ(batch.inputs.data(), inputs);
  EXPECT_EQ(batch.targets.data(), targets);
}

TEST(DistributedTokenLoader, UnevenSettingsNameTheSettings) {
  TempDir dir;
  const auto pattern = write_counting_shards(dir, "train", {100}, 1024);
  DistributedTokenLoader loader(pattern, 3, 8, 1024);
  TokenBatch batch;
  const std::string by_world = error_of([&] { loader.next_batch(100, 4, 1, batch); });
  EXPECT_NE(by_world.find("TRAIN_BATCH_TOKENS=100"), std::string::npos) << by_world;
  EXPECT_NE(by_world.find("WORLD_SIZE=8"), std::string::npos) << by_world;
  EXPECT_NE(by_world.find("grad_accum_steps=1"), std::string::npos) << by_world;
  const std::string by_accum = error_of([&] { loader.next_batch(64, 4, 3, batch); });
  EXPECT_NE(by_accum.find("grad_accum_steps=3"), std::string::npos) << by_accum;
  const std::string by_seq = error_of([&] { loader.next_batch(96, 8, 1, batch); });  // 12 per rank
  EXPECT_NE(by_seq.find("TRAIN_SEQ_LEN=8"), std::string::npos) << by_seq;
  EXPECT_NE(by_seq.find("12 tokens per rank"), std::string::npos) << by_seq;
  EXPECT_THROW(loader.next_batch(64, 0, 1, batch), dg::Error);
  EXPECT_THROW(loader.next_batch(0, 4, 1, batch), dg::Error);
}

TEST(DistributedTokenLoader, RankMustBeInsideTheWorld) {
  TempDir dir;
  const auto pattern = write_counting_shards(dir, "train", {10}, 1024);
  const std::string message = error_of([&] { DistributedTokenLoader loader(pattern, 2, 2, 1024); });
  EXPECT_NE(message.find("RANK=2"), std::string::npos) << message;
  EXPECT_NE(message.find("WORLD_SIZE=2"), std::string::npos) << message;
  EXPECT_THROW(DistributedTokenLoader(pattern, 0, 0, 1024), dg::Error);
  EXPECT_THROW(DistributedTokenLoader(pattern, -1, 1, 1024), dg::Error);
}

// ---- load_validation_tokens ----------------------------------------------------------------------

TEST(ValidationTokens, ConcatenatesInOrderAndTruncatesToWholeSequencesPlusOne) {
  TempDir dir;
  write_counting_shards(dir, "train", {50}, 1024);  // must not be picked up
  const auto pattern = write_counting_shards(dir, "val", {10, 7}, 1024);  // 17 tokens: 0..16
  // ((17 − 1) / seq) · seq + 1 tokens.
  EXPECT_EQ(load_validation_tokens(pattern, 4, 1024).size(), 17u);   // 4 sequences + 1
  EXPECT_EQ(load_validation_tokens(pattern, 5, 1024).size(), 16u);   // 3 sequences + 1
  EXPECT_EQ(load_validation_tokens(pattern, 16, 1024).size(), 17u);  // 1 sequence + 1
  EXPECT_EQ(load_validation_tokens(pattern, 3, 1024).size(), 16u);   // 5 sequences + 1
  const auto tokens = load_validation_tokens(pattern, 5, 1024);
  for (size_t i = 0; i < tokens.size(); ++i) EXPECT_EQ(tokens[i], i) << i;
}

TEST(ValidationTokens, TooShortForOneSequenceNamesTheSetting) {
  TempDir dir;
  const auto pattern = write_counting_shards(dir, "val", {10, 7}, 1024);
  // 17 tokens hold one 16-token sequence plus its target but not one of 17.
  const std::string message = error_of([&] { load_validation_tokens(pattern, 17, 1024); });
  EXPECT_NE(message.find("validation split too short for TRAIN_SEQ_LEN=17"), std::string::npos) << message;
  EXPECT_NE(message.find(pattern), std::string::npos) << message;

  TempDir empty_dir;
  const auto empty = write_counting_shards(empty_dir, "val", {0}, 1024);
  EXPECT_THROW(load_validation_tokens(empty, 1, 1024), dg::Error);
}

TEST(ValidationTokens, ChecksEveryTokenAgainstTheVocab) {
  TempDir dir;
  write_shard(dir / shard_file_name("val", 0), std::vector<uint16_t>{0, 1, 2});
  write_shard(dir / shard_file_name("val", 1), std::vector<uint16_t>{3, 4, 64});
  const std::string pattern = (dir.path() / "fineweb_val_*.bin").string();
  const std::string message = error_of([&] { load_validation_tokens(pattern, 2, 64); });
  EXPECT_NE(message.find(shard_file_name("val", 1)), std::string::npos) << message;
  EXPECT_NE(message.find("token id 64 at index 2 >= vocab 64"), std::string::npos) << message;
  EXPECT_EQ(load_validation_tokens(pattern, 2, 65).size(), 5u);
}

TEST(ValidationTokens, NoMatchingFilesNamesThePattern) {
  TempDir dir;
  const std::string pattern = (dir.path() / "fineweb_val_*.bin").string();
  const std::string message = error_of([&] { load_validation_tokens(pattern, 4, 1024); });
  EXPECT_NE(message.find("no files match " + pattern), std::string::npos) << message;
}

}  // namespace
}  // namespace dg::data
