#include "data/tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <string>
#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "core/fs.h"
#include "data/documents.h"

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

Tokenizer::Tokenizer(std::unique_ptr<sentencepiece::SentencePieceProcessor> processor, fs::path path)
    : processor_(std::move(processor)), path_(std::move(path)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::load(const fs::path& model_path) {
  std::error_code ec;
  DG_CHECK(fs::exists(model_path, ec), "tokenizer " << model_path.string() << ": no such file");
  const std::string bytes = read_file_bytes(model_path);
  auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = processor->LoadFromSerializedProto(bytes);
  DG_CHECK(status.ok(), "tokenizer " << model_path.string() << ": not a SentencePiece model ("
                                     << status.ToString() << ")");
  DG_CHECK(processor->GetPieceSize() > 0, "tokenizer " << model_path.string() << ": the model has no pieces");
  return Tokenizer(std::move(processor), model_path);
}

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

std::vector<int> Tokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  const auto status = processor_->Encode(text, &ids);
  DG_CHECK(status.ok(), "tokenizer " << path_.string() << ": encoding failed: " << status.ToString());
  return ids;
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  const int size = vocab_size();
  for (int id : ids) DG_CHECK(id >= 0 && id < size, "tokenizer " << path_.string() << ": cannot decode id " << id
                                                                  << " (vocab size " << size << ")");
  std::string text;
  const auto status = processor_->Decode(ids, &text);
  DG_CHECK(status.ok(), "tokenizer " << path_.string() << ": decoding failed: " << status.ToString());
  return text;
}

int Tokenizer::vocab_size() const { return processor_->GetPieceSize(); }
int Tokenizer::bos_id() const { return processor_->bos_id(); }
int Tokenizer::eos_id() const { return processor_->eos_id(); }
int Tokenizer::unk_id() const { return processor_->unk_id(); }
int Tokenizer::pad_id() const { return processor_->pad_id(); }

const std::string& Tokenizer::piece(int id) const {
  DG_CHECK(id >= 0 && id < vocab_size(), "tokenizer " << path_.string() << ": no piece with id " << id);
  return processor_->IdToPiece(id);
}

int Tokenizer::find_piece(std::string_view piece) const {
  const int id = processor_->PieceToId(piece);
  return processor_->IdToPiece(id) == piece ? id : -1;
}

}  // namespace dg::data
