// Tokenizer::train, apart from loading and encoding: training pulls in SentencePiece's trainer,
// which only `prepare` needs; the submission program (train + eval) links tokenizer.cpp without it.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <string>
#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "core/fs.h"
#include "data/documents.h"
#include "data/tokenizer.h"

namespace dg::data {
namespace fs = std::filesystem;

namespace {

// Feeds the trainer the documents in order, prepared as the challenge's trainer input is:
// NUL bytes replaced by spaces, surrounding whitespace trimmed, empty documents skipped. Documents
// longer than max_sentence_length are skipped here, as SentencePiece's trainer would skip them.
class DocumentIterator : public sentencepiece::SentenceIterator {
 public:
  explicit DocumentIterator(const std::vector<std::string>& documents) : documents_(documents) { advance_to_nonempty(); }
  bool done() const override { return index_ >= documents_.size(); }
  void Next() override {
    ++index_;
    advance_to_nonempty();
  }
  const std::string& value() const override { return current_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  void advance_to_nonempty() {
    for (; index_ < documents_.size(); ++index_) {
      current_ = std::string(trim_ascii_whitespace(documents_[index_]));
      for (char& c : current_) {
        if (c == '\0') c = ' ';
      }
      current_ = std::string(trim_ascii_whitespace(current_));
      if (!current_.empty() && current_.size() <= static_cast<size_t>(Tokenizer::kMaxTrainingDocumentBytes)) return;
    }
  }
  const std::vector<std::string>& documents_;
  size_t index_ = 0;
  std::string current_;
};

// SentencePiece's own setting for the one seed its trainers use.
constexpr unsigned int kTrainerSeed = 20240520;

}  // namespace

Tokenizer Tokenizer::train(const std::vector<std::string>& documents, int vocab_size, const fs::path& model_out) {
  DG_CHECK(vocab_size > 4, "tokenizer training: vocab size " << vocab_size << " is too small (need > 4)");
  const std::unordered_map<std::string, std::string> settings = {
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(vocab_size)},
      {"character_coverage", "0.999"},
      {"byte_fallback", "true"},
      {"split_digits", "true"},
      {"normalization_rule_name", "nmt_nfkc"},
      {"add_dummy_prefix", "false"},
      {"pad_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"unk_id", "3"},
      {"hard_vocab_limit", "false"},
      {"max_sentence_length", std::to_string(kMaxTrainingDocumentBytes)},  // SentencePiece's default
      // Determinism: no sentence sampling, one thread, a fixed seed.
      {"input_sentence_size", "0"},
      {"shuffle_input_sentence", "false"},
      {"num_threads", "1"},
      {"minloglevel", "2"},  // the trainer's INFO chatter would drown prepare's own progress lines
  };
  sentencepiece::SetRandomGeneratorSeed(kTrainerSeed);
  DocumentIterator iterator(documents);
  DG_CHECK(!iterator.done(), "tokenizer training: no document to train on: every one is empty or longer than "
                                 << kMaxTrainingDocumentBytes
                                 << " bytes (SentencePiece's max_sentence_length, which the challenge keeps); "
                                    "split the corpus into shorter documents, e.g. paragraphs of a .txt");
  std::string model_bytes;
  const auto status = sentencepiece::SentencePieceTrainer::Train(settings, &iterator, &model_bytes);
  DG_CHECK(status.ok(), "tokenizer training (vocab size " << vocab_size << ") failed: " << status.ToString());

  auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto load_status = processor->LoadFromSerializedProto(model_bytes);
  DG_CHECK(load_status.ok(), "tokenizer training produced an unreadable model: " << load_status.ToString());
  write_file_atomic(model_out, model_bytes);
  return Tokenizer(std::move(processor), model_out);
}

}  // namespace dg::data
