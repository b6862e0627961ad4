#include "data/prepare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <fstream>
#include <limits>
#include <span>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"
#include "data/documents.h"
#include "data/prepare_manifest.h"
#include "data/shard.h"
#include "data/tokenizer.h"

namespace dg::data {
namespace fs = std::filesystem;

namespace {

constexpr int64_t kProgressEveryDocuments = 100'000;
constexpr size_t kEncodeBatchDocuments = 512;  // documents encoded in parallel at a time

// Collects one split's tokens and writes a shard every `shard_tokens` tokens, so shard
// boundaries fall at exact token counts whatever the document lengths.
class ShardSink {
 public:
  ShardSink(fs::path out, std::string split, int64_t shard_tokens)
      : out_(std::move(out)), split_(std::move(split)), shard_tokens_(shard_tokens) {}

  void append_document(uint16_t bos, const std::vector<int>& ids) {
    push(bos);
    for (int id : ids) push(static_cast<uint16_t>(id));
    ++summary_.documents;
    summary_.tokens += 1 + static_cast<int64_t>(ids.size());
  }

  // Writes the partial last shard; the summary is final afterwards.
  SplitSummary finish() {
    flush();
    return summary_;
  }

 private:
  void push(uint16_t token) {
    buffer_.push_back(token);
    if (static_cast<int64_t>(buffer_.size()) == shard_tokens_) flush();
  }
  void flush() {
    if (buffer_.empty()) return;
    const std::string name = shard_file_name(split_, static_cast<int>(summary_.shards.size()));
    write_shard(out_ / name, std::span<const uint16_t>(buffer_));
    summary_.shards.push_back(name);
    buffer_.clear();
  }

  fs::path out_;
  std::string split_;
  int64_t shard_tokens_;
  std::vector<uint16_t> buffer_;
  SplitSummary summary_;
};

bool is_shard_name(const std::string& name) { return name.starts_with("fineweb_") && name.ends_with(".bin"); }
// Temporaries left by a killed writer (write_file_atomic's "<name>.tmp.<pid>.<n>").
bool is_shard_temporary(const std::string& name) {
  return name.starts_with("fineweb_") && name.find(".bin.tmp.") != std::string::npos;
}

std::vector<fs::path> files_in(const fs::path& dir, bool (*matches)(const std::string&)) {
  std::vector<fs::path> found;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (matches(entry.path().filename().string())) found.push_back(entry.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

void remove_files(const std::vector<fs::path>& files) {
  for (const auto& file : files) {
    std::error_code ec;
    fs::remove(file, ec);
    DG_CHECK(!ec, "cannot remove old shard " << file.string() << ": " << ec.message());
  }
}

void say(const PrepareOptions& options, const std::string& line) {
  if (options.progress != nullptr) *options.progress << "prepare: " << line << std::endl;
}

void validate_options(const PrepareOptions& options) {
  std::error_code ec;
  DG_CHECK(fs::exists(options.input, ec), "input " << options.input.string() << ": no such file");
  corpus_format_of(options.input);  // throws on an unknown extension
  DG_CHECK(!fs::exists(options.out, ec) || fs::is_directory(options.out, ec),
           "--out " << options.out.string() << ": exists and is not a directory");
  DG_CHECK(options.tokenizer || options.vocab_size,
           "no tokenizer: give --tokenizer MODEL (an existing SentencePiece model) or --vocab-size N (train one)");
  if (options.vocab_size) {
    DG_CHECK(*options.vocab_size > 4 && *options.vocab_size <= kMaxShardVocab,
             "--vocab-size " << *options.vocab_size << " is out of range: shards store uint16 ids, so it must be in 5.."
                             << kMaxShardVocab);
  }
  DG_CHECK(options.shard_tokens > 0 && options.shard_tokens <= std::numeric_limits<int32_t>::max(),
           "--shard-tokens " << options.shard_tokens << " is out of range (1.." << std::numeric_limits<int32_t>::max()
                             << ", the shard header's int32 count)");
  DG_CHECK(!(options.val_docs && options.val_fraction), "give either --val-docs or --val-fraction, not both");
  if (options.val_docs) DG_CHECK(*options.val_docs >= 1, "--val-docs " << *options.val_docs << " must be at least 1");
  if (options.val_fraction) {
    DG_CHECK(*options.val_fraction > 0.0 && *options.val_fraction < 1.0,
             "--val-fraction " << *options.val_fraction << " must be strictly between 0 and 1");
  }
}

void check_tokenizer_fits(const Tokenizer& tok, const PrepareOptions& options) {
  const std::string name = tok.path().string();
  DG_CHECK(tok.vocab_size() <= kMaxShardVocab, "tokenizer " << name << " has " << tok.vocab_size()
                                                            << " pieces, but shards store uint16 ids (vocab id >= "
                                                            << kMaxShardVocab << " cannot be written)");
  DG_CHECK(tok.bos_id() == 1, "tokenizer " << name << ": its BOS (<s>) id is " << tok.bos_id()
                                           << ", but challenge shards start every document with BOS id 1");
  if (options.tokenizer && options.vocab_size) {
    DG_CHECK(tok.vocab_size() == *options.vocab_size,
             "tokenizer " << name << " has vocab size " << tok.vocab_size() << " but --vocab-size is "
                          << *options.vocab_size);
  }
}

// Encodes `batch` in parallel (the processor is thread-safe for encoding) and appends each
// document, in order, to `sink`.
void encode_batch_into(const Tokenizer& tok, const std::vector<std::string>& batch, ShardSink& sink) {
  std::vector<std::vector<int>> encoded(batch.size());
  std::string first_error;
#pragma omp parallel for schedule(dynamic, 8)
  for (int64_t i = 0; i < static_cast<int64_t>(batch.size()); ++i) {
    try {
      encoded[i] = tok.encode(batch[i]);
    } catch (const std::exception& e) {
#pragma omp critical(dg_prepare_encode_error)
      if (first_error.empty()) first_error = e.what();
    }
  }
  DG_CHECK(first_error.empty(), first_error);
  const auto bos = static_cast<uint16_t>(tok.bos_id());
  for (const auto& ids : encoded) {
    for (int id : ids) {
      DG_CHECK(id >= 0 && id < kMaxShardVocab, "tokenizer " << tok.path().string() << " produced id " << id
                                                            << ", which does not fit a uint16 shard");
    }
    sink.append_document(bos, ids);
  }
}

nlohmann::ordered_json split_json(const SplitSummary& split) {
  return {{"documents", split.documents}, {"tokens", split.tokens}, {"shards", split.shards}};
}

}  // namespace

int64_t validation_document_count(int64_t documents, std::optional<int64_t> val_docs, std::optional<double> val_fraction) {
  DG_CHECK(documents > 0, "the corpus has no documents");
  int64_t val = 0;
  std::string rule;
  if (val_docs) {
    val = *val_docs;
    rule = "--val-docs " + std::to_string(*val_docs);
  } else {
    const double fraction = val_fraction.value_or(kDefaultValFraction);
    val = std::llround(fraction * static_cast<double>(documents));
    rule = "--val-fraction " + std::to_string(fraction) + (val_fraction ? "" : " (the default)");
  }
  DG_CHECK(val >= 1, rule << " gives an empty validation split for " << documents
                          << " documents; use --val-docs N or a larger --val-fraction");
  DG_CHECK(val < documents, rule << " puts all " << documents
                                 << " documents in validation, leaving none to train on");
  return val;
}

PrepareSummary prepare_dataset(const PrepareOptions& options) {
  validate_options(options);
  const CorpusFormat format = corpus_format_of(options.input);
  const auto existing = files_in(options.out, is_shard_name);
  DG_CHECK(existing.empty() || options.force,
           "--out " << options.out.string() << " already holds " << existing.size() << " fineweb_*.bin shard(s) (e.g. "
                    << existing.front().filename().string() << "); pass --force to replace them");

  std::optional<Tokenizer> tokenizer;
  if (options.tokenizer) {
    tokenizer = Tokenizer::load(*options.tokenizer);
    check_tokenizer_fits(*tokenizer, options);
  }

  // Pass 1: count the documents (and keep them when a tokenizer must be trained on them).
  const bool keep_documents = !tokenizer.has_value();
  std::vector<std::string> kept;
  int64_t documents = 0;
  say(options, "reading " + options.input.string());
  for_each_document(options.input, [&](std::string&& doc) {
    ++documents;
    if (keep_documents) kept.push_back(std::move(doc));
    if (documents % kProgressEveryDocuments == 0) say(options, std::to_string(documents) + " documents read");
  });
  DG_CHECK(documents > 0, "input " << options.input.string() << ": empty corpus (no documents found)");
  const int64_t val_documents = validation_document_count(documents, options.val_docs, options.val_fraction);
  say(options, std::to_string(documents) + " documents: " + std::to_string(val_documents) + " val, " +
                   std::to_string(documents - val_documents) + " train");

  if (!tokenizer) {
    const auto too_long = std::count_if(kept.begin(), kept.end(), [](const std::string& doc) {
      return trim_ascii_whitespace(doc).size() > static_cast<size_t>(Tokenizer::kMaxTrainingDocumentBytes);
    });
    say(options, "training a " + std::to_string(*options.vocab_size) + "-piece BPE tokenizer on " +
                     std::to_string(documents) + " documents");
    if (too_long > 0) {
      say(options, "note: " + std::to_string(too_long) + " document(s) longer than " +
                       std::to_string(Tokenizer::kMaxTrainingDocumentBytes) +
                       " bytes are left out of tokenizer training (SentencePiece's max_sentence_length, as in "
                       "the challenge); they are still encoded");
    }
    tokenizer = Tokenizer::train(kept, *options.vocab_size, options.out / kTrainedTokenizerName);
    check_tokenizer_fits(*tokenizer, PrepareOptions{});
    if (tokenizer->vocab_size() < *options.vocab_size) {
      say(options, "note: the corpus only supports " + std::to_string(tokenizer->vocab_size()) +
                       " pieces (hard_vocab_limit is off, as in the challenge)");
    }
  }

  // Nothing is removed before every check has passed; stale shards go so a smaller rerun leaves none behind.
  fs::create_directories(options.out);
  remove_files(files_in(options.out, is_shard_name));
  remove_files(files_in(options.out, is_shard_temporary));
  std::error_code ignored;
  fs::remove(options.out / kPrepareManifestName, ignored);

  // Pass 2: encode every document alone and write BOS + tokens into its split's shards.
  ShardSink val_sink(options.out, "val", options.shard_tokens);
  ShardSink train_sink(options.out, "train", options.shard_tokens);
  int64_t encoded_documents = 0;
  std::vector<std::string> batch;
  auto flush_batch = [&] {
    if (batch.empty()) return;
    // A batch never spans the split boundary: see `take` below.
    ShardSink& sink = encoded_documents < val_documents ? val_sink : train_sink;
    encode_batch_into(*tokenizer, batch, sink);
    const int64_t before = encoded_documents;
    encoded_documents += static_cast<int64_t>(batch.size());
    if (encoded_documents / kProgressEveryDocuments != before / kProgressEveryDocuments) {
      say(options, std::to_string(encoded_documents) + "/" + std::to_string(documents) + " documents encoded");
    }
    batch.clear();
  };
  auto take = [&](std::string&& doc) {
    batch.push_back(std::move(doc));
    const int64_t next = encoded_documents + static_cast<int64_t>(batch.size());
    if (batch.size() == kEncodeBatchDocuments || next == val_documents) flush_batch();
  };
  if (keep_documents) {
    for (auto& doc : kept) take(std::move(doc));
    kept.clear();
  } else {
    int64_t seen = 0;
    for_each_document(options.input, [&](std::string&& doc) {
      ++seen;
      DG_CHECK(seen <= documents, "input " << options.input.string() << " changed while being prepared");
      take(std::move(doc));
    });
  }
  flush_batch();
  DG_CHECK(encoded_documents == documents, "input " << options.input.string() << " changed while being prepared ("
                                                    << documents << " documents, then " << encoded_documents << ")");

  PrepareSummary summary;
  summary.documents = documents;
  summary.val = val_sink.finish();
  summary.train = train_sink.finish();
  summary.tokenizer_path = tokenizer->path();
  summary.tokenizer_trained = !options.tokenizer.has_value();
  summary.vocab_size = tokenizer->vocab_size();
  summary.manifest_path = options.out / kPrepareManifestName;

  // Paths: absolute for inputs outside OUT; the trained tokenizer relative to OUT, so the
  // manifest does not depend on where OUT lives.
  nlohmann::ordered_json manifest;
  manifest["format"] = "dartgolf-prepare-1";
  manifest["input"] = {{"path", fs::absolute(options.input).lexically_normal().string()},
                       {"format", corpus_format_name(format)},
                       {"bytes", static_cast<int64_t>(fs::file_size(options.input))},
                       {"crc32", file_crc32_hex(options.input)}};
  manifest["tokenizer"] = {
      {"path", summary.tokenizer_trained ? std::string(kTrainedTokenizerName)
                                         : fs::absolute(summary.tokenizer_path).lexically_normal().string()},
      {"trained", summary.tokenizer_trained},
      {"vocab_size", summary.vocab_size},
      {"bos_id", tokenizer->bos_id()},
      {"crc32", file_crc32_hex(summary.tokenizer_path)}};
  if (summary.tokenizer_trained) {
    manifest["tokenizer"]["settings"] = {{"model_type", "bpe"},         {"vocab_size_requested", *options.vocab_size},
                                         {"character_coverage", 0.999}, {"byte_fallback", true},
                                         {"split_digits", true},        {"normalization_rule_name", "nmt_nfkc"},
                                         {"add_dummy_prefix", false},   {"hard_vocab_limit", false}};
  }
  nlohmann::ordered_json val_rule;
  if (options.val_docs) {
    val_rule = {{"val_docs", *options.val_docs}};
  } else {
    val_rule = {{"val_fraction", options.val_fraction.value_or(kDefaultValFraction)}};
  }
  manifest["settings"] = {{"split_rule", val_rule},
                          {"shard_tokens", options.shard_tokens},
                          {"bos_per_document", true},
                          {"eos_per_document", false}};
  manifest["documents"] = documents;
  manifest["splits"] = {{"val", split_json(summary.val)}, {"train", split_json(summary.train)}};
  write_file_atomic(summary.manifest_path, manifest.dump(2) + "\n");
  say(options, "wrote " + std::to_string(summary.val.shards.size()) + " val and " +
                   std::to_string(summary.train.shards.size()) + " train shard(s), " +
                   std::to_string(summary.val.tokens + summary.train.tokens) + " tokens, to " + options.out.string());
  return summary;
}

}  // namespace dg::data
