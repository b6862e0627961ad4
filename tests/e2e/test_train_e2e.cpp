// The README's main job on a real corpus: prepare tinyshakespeare with the challenge's tokenizer,
// train the tiny preset on CPU, and check that validation bits-per-byte falls clearly and that
// `dartgolf eval` scores the saved checkpoint exactly as training did.
#include <gtest/gtest.h>

#include <regex>

#include "test_support.h"

namespace dg {
namespace {

std::vector<double> all_matches(const std::string& text, const std::string& pattern) {
  std::vector<double> out;
  const std::regex re(pattern);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it)
    out.push_back(std::stod((*it)[1]));
  return out;
}

TEST(EndToEnd, TinyPresetLearnsShakespeareAndEvalAgrees) {
  const auto corpus = test::shared_data("tinyshakespeare.txt");
  const auto tokenizer = test::shared_data("fineweb_1024_bpe.model");
  if (!std::filesystem::exists(corpus) || !std::filesystem::exists(tokenizer)) GTEST_SKIP() << "needs ../shared/data";
  test::TempDir dir;
  const auto prep = test::run_dartgolf("prepare --input '" + corpus.string() + "' --out '" + (dir / "data").string() +
                                       "' --tokenizer '" + tokenizer.string() + "'");
  ASSERT_EQ(prep.exit_code, 0) << prep.output;

  const std::string common = " --set val_max_tokens=16384 --set threads=2";
  const auto train = test::run_dartgolf("train --preset tiny --out '" + (dir / "run").string() + "'" + common +
                                        " --set iterations=120 --set val_loss_every=60 --set warmdown_iters=40",
                                        "DATA_PATH='" + (dir / "data").string() + "' TOKENIZER_PATH='" +
                                            tokenizer.string() + "'");
  ASSERT_EQ(train.exit_code, 0) << train.output;
  const auto bpb = all_matches(train.output, R"(step:\d+/120 val_loss:[0-9.]+ val_bpb:([0-9.]+))");
  ASSERT_EQ(bpb.size(), 3u) << train.output;  // steps 0, 60, 120
  EXPECT_GT(bpb[0], 4.0) << "an untrained model is near uniform over 1024 tokens";
  EXPECT_LT(bpb[1], bpb[0] - 1.0) << train.output;
  EXPECT_LT(bpb[2], bpb[1]) << train.output;

  const auto eval = test::run_dartgolf("eval --checkpoint '" + (dir / "run/final_model.safetensors").string() + "'" + common);
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  // val_max_tokens cuts the split, so the final lines say "_partial" and how much they covered.
  const auto trained =
      all_matches(train.output, R"(final_val_partial val_loss:[0-9.]+ val_bpb:([0-9.]+) val_targets:16384/)");
  const auto scored =
      all_matches(eval.output, R"(final_eval_partial val_loss:[0-9.]+ val_bpb:([0-9.]+) val_targets:16384/)");
  ASSERT_EQ(trained.size(), 1u);
  ASSERT_EQ(scored.size(), 1u);
  EXPECT_EQ(scored[0], trained[0]);
}

}  // namespace
}  // namespace dg
