// A SentencePiece tokenizer with the challenge's conventions: ids 0..3 are <pad>, <s> (BOS),
// </s> and <unk>, exactly as in the challenge's fineweb_1024_bpe.model, and a trained model uses
// the challenge's export settings (data/download_hf_docs_and_tokenize.py):
// BPE, character_coverage 0.999, byte_fallback, split_digits, nmt_nfkc, no dummy prefix,
// hard_vocab_limit off.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace dg::data {

class Tokenizer {
 public:
  // Loads a SentencePiece .model; throws dg::Error naming the file when it is missing or not a model.
  static Tokenizer load(const std::filesystem::path& model_path);

  // Longer documents are left out of training, as the challenge's trainer (SentencePiece's default
  // max_sentence_length) leaves them out; they are still encoded like any other.
  static constexpr int kMaxTrainingDocumentBytes = 4192;

  // Trains a model on `documents` (in order; empty ones after trimming are skipped, NUL bytes become
  // spaces, as the challenge's trainer input does; too long ones are skipped, see above), writes it
  // atomically to `model_out` and returns it loaded. Deterministic: a fixed seed and one thread, so equal input gives identical bytes.
  // With hard_vocab_limit off (as in the challenge) a tiny corpus may yield fewer than `vocab_size`
  // pieces; vocab_size() tells the real size.
  static Tokenizer train(const std::vector<std::string>& documents, int vocab_size,
                         const std::filesystem::path& model_out);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Token ids of `text` (no BOS/EOS added).
  std::vector<int> encode(std::string_view text) const;
  // Text of `ids`; control pieces (BOS, ...) decode to nothing.
  std::string decode(const std::vector<int>& ids) const;

  int vocab_size() const;
  int bos_id() const;
  int eos_id() const;
  int unk_id() const;
  int pad_id() const;
  const std::string& piece(int id) const;
  // The piece's id, or -1 when the model has no such piece (SentencePiece itself answers <unk>).
  int find_piece(std::string_view piece) const;

  // Where the model was loaded from or written to.
  const std::filesystem::path& path() const { return path_; }
  // The underlying processor, for piece-type queries (byte LUTs, inspection).
  const sentencepiece::SentencePieceProcessor& processor() const { return *processor_; }

 private:
  Tokenizer(std::unique_ptr<sentencepiece::SentencePieceProcessor> processor, std::filesystem::path path);
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  std::filesystem::path path_;
};

}  // namespace dg::data
