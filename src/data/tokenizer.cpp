#include "data/tokenizer.h"

#include <sentencepiece_processor.h>

#include <string>
#include <utility>

#include "core/error.h"
#include "core/fs.h"

namespace dg::data {
namespace fs = std::filesystem;

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
