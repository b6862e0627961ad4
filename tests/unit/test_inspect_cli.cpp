// `dartgolf inspect` on shards and tokenizers, through the built binary.
#include <gtest/gtest.h>
#include <sentencepiece_processor.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "data/shard.h"
#include "data/tokenizer.h"
#include "test_support.h"

namespace dg::data {
namespace {

namespace fs = std::filesystem;
using test::run_dartgolf;
using test::TempDir;
using test::write_text;

fs::path sp1024_path() { return test::shared_data("fineweb_1024_bpe.model"); }

#define SKIP_WITHOUT_SP1024()                                                  \
  if (!fs::exists(sp1024_path())) GTEST_SKIP() << "no " << sp1024_path()

using test::quoted;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Two documents, BOS before each; their texts are 15 and 20 UTF-8 bytes and every piece is text.
std::vector<uint16_t> two_document_shard(const Tokenizer& tok) {
  std::vector<uint16_t> tokens;
  for (const std::string text : {"Hello \xE2\x80\x94 world", "He said \xE2\x80\x9Chi\xE2\x80\x9D now"}) {
    tokens.push_back(static_cast<uint16_t>(tok.bos_id()));
    for (int id : tok.encode(text)) tokens.push_back(static_cast<uint16_t>(id));
  }
  return tokens;
}

TEST(InspectCli, ShardWithAndWithoutTokenizer) {
  SKIP_WITHOUT_SP1024();
  TempDir dir;
  const Tokenizer tok = Tokenizer::load(sp1024_path());
  const auto tokens = two_document_shard(tok);
  ASSERT_EQ(tokens.size(), 16u);
  const fs::path shard = dir / "fineweb_val_000000.bin";
  write_shard(shard, tokens);
  const uint16_t max_id = *std::max_element(tokens.begin(), tokens.end());

  const auto plain = run_dartgolf("inspect " + quoted(shard));
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_TRUE(contains(plain.output, "tokens: 16\n")) << plain.output;
  EXPECT_TRUE(contains(plain.output, "token ids: min 1, max " + std::to_string(max_id) + "\n")) << plain.output;
  EXPECT_TRUE(contains(plain.output, "documents started (BOS id 1): 2\n")) << plain.output;
  EXPECT_FALSE(contains(plain.output, "bytes")) << "no byte count without a tokenizer";

  const auto decoded = run_dartgolf("inspect " + quoted(shard) + " --tokenizer " + quoted(sp1024_path()));
  ASSERT_EQ(decoded.exit_code, 0) << decoded.output;
  // 15 targets: 15 bytes of document one, 0 for the second BOS, 20 for document two.
  EXPECT_TRUE(contains(decoded.output, "bytes (challenge rule, 15 targets): 35\n")) << decoded.output;
  EXPECT_TRUE(contains(decoded.output, "bytes per token: 2.3333\n")) << decoded.output;
  EXPECT_TRUE(contains(decoded.output,
                       "text: <s>Hello \xE2\x80\x94 world<s>He said \xE2\x80\x9Chi\xE2\x80\x9D now\n"))
      << decoded.output;
}

TEST(InspectCli, ShardPreviewIsCutAndOutOfVocabIdsAreFlagged) {
  SKIP_WITHOUT_SP1024();
  TempDir dir;
  const Tokenizer tok = Tokenizer::load(sp1024_path());
  std::vector<uint16_t> tokens = {1};
  for (int i = 0; i < 100; ++i) {
    for (int id : tok.encode("the river runs ")) tokens.push_back(static_cast<uint16_t>(id));
  }
  tokens.push_back(2000);  // beyond sp1024's 1024 pieces
  const fs::path shard = dir / "odd.bin";
  write_shard(shard, tokens);
  const auto result = run_dartgolf("inspect " + quoted(shard) + " --tokenizer " + quoted(sp1024_path()));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(contains(result.output, "warning: 1 token(s) have ids >= the tokenizer's vocab 1024")) << result.output;
  const auto text_at = result.output.find("text: <s>the river runs");
  ASSERT_NE(text_at, std::string::npos) << result.output;
  const std::string text_line = result.output.substr(text_at, result.output.find('\n', text_at) - text_at);
  EXPECT_EQ(text_line.size(), std::string("text: ").size() + 200 + 3) << "200 characters then \"...\": " << text_line;
}

// Counts a model's pieces the way the report should, from the piece strings themselves.
struct PieceCounts {
  int leading_space = 0;
  double mean_base_bytes = 0;
};
PieceCounts count_pieces(const Tokenizer& tok) {
  const std::string space = "\xE2\x96\x81";
  const auto& sp = tok.processor();
  PieceCounts counts;
  int64_t bytes = 0;
  int text_pieces = 0;
  for (int id = 0; id < tok.vocab_size(); ++id) {
    const std::string& piece = tok.piece(id);
    const bool leading = piece.rfind(space, 0) == 0 && !sp.IsByte(id) && !sp.IsControl(id) && !sp.IsUnknown(id) &&
                         !sp.IsUnused(id);
    counts.leading_space += leading ? 1 : 0;
    if (sp.IsControl(id) || sp.IsUnknown(id) || sp.IsUnused(id)) continue;
    ++text_pieces;
    bytes += sp.IsByte(id) ? 1 : static_cast<int64_t>(piece.size() - (leading ? space.size() : 0));
  }
  counts.mean_base_bytes = static_cast<double>(bytes) / text_pieces;
  return counts;
}

std::string fixed4(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.4f", value);
  return buffer;
}

TEST(InspectCli, ChallengeTokenizer) {
  SKIP_WITHOUT_SP1024();
  const auto result = run_dartgolf("inspect " + quoted(sp1024_path()));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const PieceCounts expected = count_pieces(Tokenizer::load(sp1024_path()));
  EXPECT_TRUE(contains(result.output, "kind: SentencePiece model\n")) << result.output;
  EXPECT_TRUE(contains(result.output, "vocab size: 1024\n")) << result.output;
  EXPECT_TRUE(contains(result.output, "special ids: pad 0, bos 1, eos 2, unk 3\n")) << result.output;
  EXPECT_TRUE(contains(result.output, "pieces: control 3, unknown 1, unused 0, byte 0, normal 1020\n")) << result.output;
  EXPECT_TRUE(contains(result.output, "pieces with a leading \xE2\x96\x81: " + std::to_string(expected.leading_space) + "\n"))
      << result.output;
  EXPECT_TRUE(contains(result.output, "mean base bytes (byte and normal pieces): " + fixed4(expected.mean_base_bytes)))
      << result.output;
}

TEST(InspectCli, TrainedByteFallbackTokenizer) {
  TempDir dir;
  std::mt19937 rng(3);
  const std::vector<std::string> words = {"alpha", "beta", "gamma", "delta", "12", "ok"};
  std::vector<std::string> docs;
  for (int d = 0; d < 50; ++d) {
    std::string doc;
    for (int w = 0; w < 20; ++w) doc += (w ? " " : "") + words[rng() % words.size()];
    docs.push_back(doc);
  }
  const Tokenizer tok = Tokenizer::train(docs, 300, dir / "small.model");
  const auto result = run_dartgolf("inspect " + quoted(dir / "small.model"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const int normal = tok.vocab_size() - 4 - 256;
  EXPECT_TRUE(contains(result.output, "vocab size: " + std::to_string(tok.vocab_size()) + "\n")) << result.output;
  EXPECT_TRUE(contains(result.output, "pieces: control 3, unknown 1, unused 0, byte 256, normal " +
                                          std::to_string(normal) + "\n"))
      << result.output;
  EXPECT_TRUE(contains(result.output, "mean base bytes (byte and normal pieces): " + fixed4(count_pieces(tok).mean_base_bytes)))
      << result.output;
}

TEST(InspectCli, BadFilesFailClearly) {
  TempDir dir;
  write_text(dir / "notes.txt", "just some text\n");
  write_text(dir / "garbage.bin", std::string(2048, 'x'));
  write_text(dir / "broken.model", "not a model at all");
  std::string truncated(1024 + 4, '\0');
  const int32_t header[3] = {20240520, 1, 100};  // claims 100 tokens, holds 2
  std::memcpy(truncated.data(), header, sizeof header);
  write_text(dir / "short.bin", truncated);

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"notes.txt", "unknown file type"},
      {"missing.bin", "missing.bin: no such file"},
      {"garbage.bin", "bad magic"},
      {"short.bin", "truncated"},
      {"broken.model", "not a SentencePiece model"},
  };
  for (const auto& [name, message] : cases) {
    const auto result = run_dartgolf("inspect " + quoted(dir / name));
    EXPECT_EQ(result.exit_code, 1) << name << ": " << result.output;
    EXPECT_TRUE(contains(result.output, message)) << name << ": expected \"" << message << "\" in " << result.output;
  }
  if (fs::exists(sp1024_path())) {
    write_shard(dir / "ok.bin", std::vector<uint16_t>{1, 5, 6});
    const auto result = run_dartgolf("inspect " + quoted(dir / "ok.bin") + " --tokenizer " + quoted(dir / "notes.txt"));
    EXPECT_EQ(result.exit_code, 1) << result.output;
    EXPECT_TRUE(contains(result.output, "notes.txt: not a SentencePiece model")) << result.output;
  }
  const auto usage = run_dartgolf("inspect");
  EXPECT_EQ(usage.exit_code, 2) << usage.output;
  EXPECT_TRUE(contains(usage.output, "FILE")) << usage.output;
}

}  // namespace
}  // namespace dg::data
