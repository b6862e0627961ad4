// val_bpb byte accounting against hand-counted cases and against decoded text.
#include <gtest/gtest.h>
#include <sentencepiece_processor.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/byte_luts.h"
#include "data/tokenizer.h"
#include "test_support.h"

namespace dg::data {
namespace {

using test::shared_data;

const std::string kSpace = "\xE2\x96\x81";  // "▁"

std::filesystem::path sp1024_path() { return shared_data("fineweb_1024_bpe.model"); }

#define SKIP_WITHOUT_SP1024()                                                  \
  if (!std::filesystem::exists(sp1024_path())) GTEST_SKIP() << "no " << sp1024_path()

int id_of(const Tokenizer& tok, const std::string& piece) {
  const int id = tok.find_piece(piece);
  EXPECT_GE(id, 0) << "piece " << piece << " is not in " << tok.path();
  return id;
}

// Bytes of `ids` as one document after BOS, the way an eval scores them.
int64_t document_bytes(const ByteLuts& luts, int bos, const std::vector<int>& ids) {
  std::vector<int32_t> seq = {bos};
  seq.insert(seq.end(), ids.begin(), ids.end());
  return count_target_bytes(luts, seq.data(), seq.data() + 1, static_cast<int64_t>(ids.size()));
}

std::vector<std::string> piece_strings(const Tokenizer& tok, const std::vector<int>& ids) {
  std::vector<std::string> pieces;
  for (int id : ids) pieces.push_back(tok.piece(id));
  return pieces;
}

TEST(ByteLuts, ControlAndUnknownPiecesAreZeroByteBoundaries) {
  SKIP_WITHOUT_SP1024();
  const Tokenizer tok = Tokenizer::load(sp1024_path());
  const ByteLuts luts = build_byte_luts(tok, 1024);
  ASSERT_EQ(luts.size(), 1024);
  for (const char* special : {"<pad>", "<s>", "</s>", "<unk>"}) {
    const int id = id_of(tok, special);
    EXPECT_EQ(luts.is_boundary[id], 1) << special;
    EXPECT_EQ(luts.base_bytes[id], 0) << special;
    EXPECT_EQ(luts.has_leading_space[id], 0) << special;
  }
  EXPECT_EQ(id_of(tok, "<s>"), 1) << "the challenge's BOS is id 1";
  EXPECT_EQ(tok.bos_id(), 1);
}

TEST(ByteLuts, LeadingSpaceCountsOnlyAfterANonBoundaryToken) {
  SKIP_WITHOUT_SP1024();
  const Tokenizer tok = Tokenizer::load(sp1024_path());
  const ByteLuts luts = build_byte_luts(tok, 1024);
  const int the = id_of(tok, kSpace + "the");
  const int he = id_of(tok, "he");
  const int space = id_of(tok, kSpace);
  const int bos = tok.bos_id();
  const int unk = tok.unk_id();

  EXPECT_EQ(luts.base_bytes[the], 3);
  EXPECT_EQ(luts.has_leading_space[the], 1);
  EXPECT_EQ(target_bytes(luts, bos, the), 3) << "after BOS the space is not counted";
  EXPECT_EQ(target_bytes(luts, unk, the), 3) << "<unk> is a boundary too";
  EXPECT_EQ(target_bytes(luts, he, the), 4) << "after a normal token the space is one byte";
  EXPECT_EQ(target_bytes(luts, bos, he), 2);
  EXPECT_EQ(target_bytes(luts, the, he), 2);
  // The bare "▁" piece: 0 bytes after a boundary, 1 after text.
  EXPECT_EQ(target_bytes(luts, bos, space), 0);
  EXPECT_EQ(target_bytes(luts, he, space), 1);
}

TEST(ByteLuts, MultiByteUtf8PiecesCountTheirUtf8Length) {
  SKIP_WITHOUT_SP1024();
  const Tokenizer tok = Tokenizer::load(sp1024_path());
  const ByteLuts luts = build_byte_luts(tok, 1024);
  const int em_dash = id_of(tok, "\xE2\x80\x94");                   // "—"
  const int space_quote = id_of(tok, kSpace + "\xE2\x80\x9C");      // "▁“"
  EXPECT_EQ(luts.base_bytes[em_dash], 3);
  EXPECT_EQ(luts.base_bytes[space_quote], 3);
  EXPECT_EQ(luts.has_leading_space[space_quote], 1);
  EXPECT_EQ(target_bytes(luts, em_dash, space_quote), 4);
}

TEST(ByteLuts, HandCountedSentences) {
  SKIP_WITHOUT_SP1024();
  const Tokenizer tok = Tokenizer::load(sp1024_path());
  const ByteLuts luts = build_byte_luts(tok, 1024);
  const int bos = tok.bos_id();

  // H ell o ▁ — ▁world: 1+3+1 + (0+1) + 3 + (5+1) = 15 = UTF-8 length of the text.
  const std::string dash_text = "Hello \xE2\x80\x94 world";
  const auto dash = tok.encode(dash_text);
  EXPECT_EQ(piece_strings(tok, dash),
            (std::vector<std::string>{"H", "ell", "o", kSpace, "\xE2\x80\x94", kSpace + "world"}));
  EXPECT_EQ(document_bytes(luts, bos, dash), 15);
  EXPECT_EQ(dash_text.size(), 15u);

  // H e ▁said ▁“ h i ” ▁now: 1+1+5+4+1+1+3+4 = 20.
  const std::string quote_text = "He said \xE2\x80\x9Chi\xE2\x80\x9D now";
  const auto quote = tok.encode(quote_text);
  EXPECT_EQ(document_bytes(luts, bos, quote), 20);
  EXPECT_EQ(quote_text.size(), 20u);

  // "x é y": sp1024 has no "é" and no byte pieces, so é is <unk>, a 0-byte boundary, and the
  // space of the "▁y" after it is not counted either: x(1) ▁(1) <unk>(0) ▁y(1) = 3, not 6.
  const auto unk_case = tok.encode("x \xC3\xA9 y");
  EXPECT_EQ(piece_strings(tok, unk_case), (std::vector<std::string>{"x", kSpace, "<unk>", kSpace + "y"}));
  EXPECT_EQ(document_bytes(luts, bos, unk_case), 3);
}

TEST(ByteLuts, TableCoversTheConfiguredVocabBeyondTheModel) {
  SKIP_WITHOUT_SP1024();
  const Tokenizer tok = Tokenizer::load(sp1024_path());
  const ByteLuts luts = build_byte_luts(tok, 1100);
  ASSERT_EQ(luts.size(), 1100);
  EXPECT_EQ(luts.is_boundary[1050], 1);
  EXPECT_EQ(luts.base_bytes[1050], 0);
  EXPECT_EQ(build_byte_luts(tok, 16).size(), 1024) << "never smaller than the model";
}

TEST(ByteLuts, BytesOfEncodedShakespeareEqualTheDecodedUtf8Length) {
  SKIP_WITHOUT_SP1024();
  const auto corpus_path = shared_data("tinyshakespeare.txt");
  if (!std::filesystem::exists(corpus_path)) GTEST_SKIP() << "no " << corpus_path;
  const Tokenizer tok = Tokenizer::load(sp1024_path());
  const ByteLuts luts = build_byte_luts(tok, 1024);
  const std::string corpus = test::read_text(corpus_path);

  // Whole text as one document after BOS.
  const std::string head = corpus.substr(0, 200000);
  const auto ids = tok.encode(head);
  const std::string decoded = tok.decode(ids);
  EXPECT_EQ(document_bytes(luts, tok.bos_id(), ids), static_cast<int64_t>(decoded.size()));

  // As an eval stream: BOS + document, BOS + document, ... scored target by target. Every piece
  // here is text (no <unk>), so the credited bytes are exactly the decoded documents' bytes.
  std::vector<int32_t> stream;
  int64_t decoded_bytes = 0;
  size_t start = 0;
  for (int doc = 0; doc < 300 && start < corpus.size(); ++doc) {
    const size_t end = std::min(corpus.find("\n\n", start), corpus.size());
    const auto doc_ids = tok.encode(corpus.substr(start, end - start));
    stream.push_back(tok.bos_id());
    stream.insert(stream.end(), doc_ids.begin(), doc_ids.end());
    decoded_bytes += static_cast<int64_t>(tok.decode(doc_ids).size());
    start = end + 2;
  }
  const int64_t n = static_cast<int64_t>(stream.size()) - 1;
  EXPECT_EQ(count_target_bytes(luts, stream.data(), stream.data() + 1, n), decoded_bytes);
}

// A small byte-fallback model trained here, for the byte pieces sp1024 does not have.
std::vector<std::string> generated_documents() {
  const std::vector<std::string> words = {"the", "caf\xC3\xA9", "river", "stone", "light", "over",
                                          "garden", "of", "and", "42", "seven", "na\xC3\xAFve"};
  std::mt19937 rng(7);
  std::vector<std::string> docs;
  for (int d = 0; d < 200; ++d) {
    std::string doc;
    for (int w = 0; w < 40; ++w) {
      if (w > 0) doc += ' ';
      doc += words[rng() % words.size()];
    }
    docs.push_back(doc);
  }
  return docs;
}

TEST(ByteLuts, ByteFallbackPiecesAreOneByteAndReassembleUtf8) {
  test::TempDir dir;
  const Tokenizer tok = Tokenizer::train(generated_documents(), 320, dir / "bytes.model");
  const ByteLuts luts = build_byte_luts(tok, tok.vocab_size());
  const int byte_c3 = id_of(tok, "<0xC3>");
  ASSERT_TRUE(tok.processor().IsByte(byte_c3));
  EXPECT_EQ(luts.base_bytes[byte_c3], 1);
  EXPECT_EQ(luts.is_boundary[byte_c3], 0);
  EXPECT_EQ(target_bytes(luts, tok.bos_id(), byte_c3), 1);

  // "日本" never occurs in training: six byte pieces, six bytes, whatever precedes them.
  const std::string cjk = "\xE6\x97\xA5\xE6\x9C\xAC";
  const auto ids = tok.encode(cjk);
  ASSERT_EQ(ids.size(), 6u);
  for (int id : ids) EXPECT_TRUE(tok.processor().IsByte(id)) << tok.piece(id);
  EXPECT_EQ(document_bytes(luts, tok.bos_id(), ids), 6);
  EXPECT_EQ(tok.decode(ids), cjk);

  // "é" is frequent in training, so it is a character piece worth its 2 UTF-8 bytes.
  const int e_acute = id_of(tok, "\xC3\xA9");
  EXPECT_FALSE(tok.processor().IsByte(e_acute));
  EXPECT_EQ(luts.base_bytes[e_acute], 2);

  // Mixed text: the credited bytes equal the UTF-8 length of what decodes back.
  const std::string mixed = "the caf\xC3\xA9 \xE6\x97\xA5 over 42 na\xC3\xAFve \xF0\x9F\x99\x82 stone";
  const auto mixed_ids = tok.encode(mixed);
  EXPECT_EQ(tok.decode(mixed_ids), mixed);
  EXPECT_EQ(document_bytes(luts, tok.bos_id(), mixed_ids), static_cast<int64_t>(mixed.size()));
}

TEST(ByteLuts, CountTargetBytesRejectsIdsOutsideTheTables) {
  SKIP_WITHOUT_SP1024();
  const Tokenizer tok = Tokenizer::load(sp1024_path());
  const ByteLuts luts = build_byte_luts(tok, 1024);
  const std::vector<int32_t> prev = {1, 5};
  const std::vector<int32_t> target = {5, 1024};
  EXPECT_THROW(count_target_bytes(luts, prev.data(), target.data(), 2), dg::Error);
}

TEST(BpbAccumulator, ComputesTheChallengeFormula) {
  BpbAccumulator acc;
  // 4 targets at 1.5 bits each over 6 bytes: 6 bits / 6 bytes = 1 bit per byte.
  acc.add(4 * 1.5 * std::log(2.0), 4, 6);
  EXPECT_NEAR(acc.val_loss(), 1.5 * std::log(2.0), 1e-12);
  EXPECT_NEAR(acc.val_bpb(), 1.0, 1e-12);

  BpbAccumulator a;
  BpbAccumulator b;
  a.add(3.0, 10, 25);
  b.add(5.0, 30, 95);
  a.merge(b);
  BpbAccumulator whole;
  whole.add(8.0, 40, 120);
  EXPECT_DOUBLE_EQ(a.val_loss(), whole.val_loss());
  EXPECT_DOUBLE_EQ(a.val_bpb(), whole.val_bpb());
  EXPECT_NEAR(whole.val_bpb(), (8.0 / 40 / std::log(2.0)) * (40.0 / 120.0), 1e-12);
}

TEST(BpbAccumulator, EmptyEvalIsAnError) {
  BpbAccumulator acc;
  EXPECT_THROW(acc.val_loss(), dg::Error);
  acc.add(1.0, 2, 0);
  EXPECT_THROW(acc.val_bpb(), dg::Error);
}

}  // namespace
}  // namespace dg::data
