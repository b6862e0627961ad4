// `dartgolf prepare`: a .txt or .jsonl corpus -> challenge token shards, the way the challenge's
// own export (data/download_hf_docs_and_tokenize.py) builds them:
//   - every document is encoded alone and written as BOS (id 1) followed by its tokens, no EOS;
//   - the first N documents are the validation split, the rest train;
//   - each split is cut into shards of exactly `shard_tokens` tokens (the last one shorter);
//     a document may straddle two shards; files fineweb_val_000000.bin, fineweb_train_000000.bin...
//   - OUT/prepare.json records the inputs, settings and per-split counts; it is written last,
//     so its presence marks a complete run. Every shard is written atomically.
// Equal inputs and options give byte-identical shards (and tokenizer.model when one is trained).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace dg::data {

constexpr int64_t kDefaultShardTokens = 100'000'000;  // the challenge's SHARD_SIZE
constexpr double kDefaultValFraction = 0.1;
constexpr int kMaxShardVocab = 65536;                 // token ids are stored as uint16
constexpr const char* kPrepareManifestName = "prepare.json";
constexpr const char* kTrainedTokenizerName = "tokenizer.model";

struct PrepareOptions {
  std::filesystem::path input;               // .txt or .jsonl
  std::filesystem::path out;                 // created if missing
  std::optional<std::filesystem::path> tokenizer;  // an existing SentencePiece model...
  std::optional<int> vocab_size;             // ...or train one of this size (both: they must agree)
  std::optional<int64_t> val_docs;           // the first N documents are val...
  std::optional<double> val_fraction;        // ...or the first round(F × documents); default 0.1
  int64_t shard_tokens = kDefaultShardTokens;
  bool force = false;                        // replace fineweb_*.bin shards already in `out`
  std::ostream* progress = nullptr;          // progress lines (documents processed); null: quiet
};

struct SplitSummary {
  int64_t documents = 0;
  int64_t tokens = 0;  // BOS included
  std::vector<std::string> shards;
};

struct PrepareSummary {
  int64_t documents = 0;
  SplitSummary val;
  SplitSummary train;
  std::filesystem::path tokenizer_path;
  bool tokenizer_trained = false;
  int vocab_size = 0;
  std::filesystem::path manifest_path;  // OUT/prepare.json
};

PrepareSummary prepare_dataset(const PrepareOptions& options);

// How many of `documents` go to val: `val_docs`, or round(val_fraction × documents) (halves round
// up), default fraction kDefaultValFraction. Errors when either split would be empty.
int64_t validation_document_count(int64_t documents, std::optional<int64_t> val_docs,
                                  std::optional<double> val_fraction);

}  // namespace dg::data
