// `dartgolf train` and `dartgolf eval` from the command line: a short run leaves a checkpoint that
// eval scores identically, and every user mistake gets a clear error and a non-zero exit.
#include <gtest/gtest.h>

#include <regex>

#include "cli_fixtures.h"
#include "test_support.h"

namespace dg {
namespace {

using CliTrainTest = test::SmallRunTest;
using test::last_match;

TEST_F(CliTrainTest, ShortRunLeavesACheckpointThatEvalScoresIdentically) {
  const auto train = test::run_dartgolf(small_run("--set iterations=3"));
  ASSERT_EQ(train.exit_code, 0) << train.output;
  EXPECT_NE(train.output.find("model_params:"), std::string::npos);
  EXPECT_NE(train.output.find("step:3/3 val_loss:"), std::string::npos) << train.output;
  const std::string trained_bpb = last_match(train.output, "final_val_exact val_loss:[0-9.]+ val_bpb:([0-9.]+)");
  ASSERT_FALSE(trained_bpb.empty()) << train.output;
  EXPECT_TRUE(std::filesystem::exists(dir_ / "run/final_model.safetensors"));
  EXPECT_NE(test::read_text(dir_ / "run/metrics.jsonl").find("\"event\":\"val\""), std::string::npos);
  EXPECT_NE(test::read_text(dir_ / "run/train_log.txt").find("model_params:"), std::string::npos);

  const auto eval = test::run_dartgolf("eval --checkpoint '" + (dir_ / "run/final_model.safetensors").string() +
                                       "' --per-token-out '" + (dir_ / "tokens.tsv").string() + "'");
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_EQ(last_match(eval.output, "final_eval_exact val_loss:[0-9.]+ val_bpb:([0-9.]+)"), trained_bpb);
  // One line per scored target: position, token id, loss, bytes.
  const std::string tsv = test::read_text(dir_ / "tokens.tsv");
  EXPECT_EQ(std::count(tsv.begin(), tsv.end(), '\n'), (3000 - 1) / 64 * 64);
  EXPECT_TRUE(std::regex_search(tsv, std::regex("^1\t[0-9]+\t[0-9.e-]+\t[0-9]+\n")));
}

TEST_F(CliTrainTest, ErrorsNameTheProblem) {
  struct Case {
    std::string args, expected;
  };
  const std::vector<Case> cases = {
      {small_run("--set iterations=1 --set vocab_size=512"), "VOCAB_SIZE=512 does not match tokenizer vocab_size=1024"},
      {small_run("--set iterations=1 --set num_heads=3"), "must be divisible by num_heads=3"},
      {small_run("--set iterations=1 --set num_kv_heads=2 --set num_heads=2 --set model_dim=30"), "must be even for RoPE"},
      {small_run("--set iterations=1 --set data_path=/nonexistent/data"), "data folder /nonexistent/data does not exist"},
      {small_run("--set iterations=1 --set data_path=/tmp"), "no files match /tmp/fineweb_val_*.bin"},
      {small_run("--set iterations=1 --set train_batch_tokens=100"), "TRAIN_BATCH_TOKENS"},
      {small_run("--set iterations=1 --set iteratons=2"), "did you mean 'iterations'"},
      {"train --preset huge", "valid presets: gpt, tiny"},
      // A bad blocks entry fails before any data is read (the data folder here does not exist).
      {"train --preset dart --set data_path=/nonexistent/data --set 'blocks=[{\"type\":\"dam\",\"site\":\"mlp_input\"}]'",
       "blocks[0]: unknown block type 'dam'; valid types: tau_fusion, daam, head_gate"},
  };
  for (const Case& c : cases) {
    const auto r = test::run_dartgolf(c.args);
    EXPECT_EQ(r.exit_code, 1) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expected), std::string::npos) << "expected '" << c.expected << "' in:\n" << r.output;
    EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << r.output;
  }
}

TEST_F(CliTrainTest, EvalRefusesACheckpointOfAnotherConfig) {
  ASSERT_EQ(test::run_dartgolf(small_run("--set iterations=1")).exit_code, 0);
  const auto r = test::run_dartgolf("eval --checkpoint '" + (dir_ / "run/final_model.safetensors").string() +
                                    "' --set model_dim=64");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("final_model.safetensors"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("tok_emb.weight"), std::string::npos) << r.output;  // a mismatched shape is named
  const auto missing = test::run_dartgolf("eval --checkpoint '" + (dir_ / "nope.safetensors").string() + "'");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("nope.safetensors"), std::string::npos) << missing.output;
  const auto artifact = test::run_dartgolf("eval --artifact '" + (dir_ / "x.bin").string() + "'");
  EXPECT_EQ(artifact.exit_code, 1);
  EXPECT_NE(artifact.output.find("x.bin: no such file"), std::string::npos) << artifact.output;
  const auto both = test::run_dartgolf("eval --artifact a --checkpoint b");
  EXPECT_EQ(both.exit_code, 2) << both.output;  // mutually exclusive: a usage error
}

TEST_F(CliTrainTest, EvalLossChoosesHowADartCheckpointIsScored) {
  const std::string dart = small_run(
      "--set iterations=2 --set model=dart --set num_loops=2 --set num_memory_tokens=2 --set delta_rank=2 "
      "--set mlp_mult=2 --set qk_gain_init=1");
  ASSERT_EQ(test::run_dartgolf(dart).exit_code, 0);
  const std::string ckpt = test::quoted(dir_ / "run/final_model.safetensors");
  const auto last = test::run_dartgolf("eval --checkpoint " + ckpt);
  const auto weighted = test::run_dartgolf("eval --checkpoint " + ckpt + " --eval-loss deep_supervision");
  ASSERT_EQ(last.exit_code, 0) << last.output;
  ASSERT_EQ(weighted.exit_code, 0) << weighted.output;
  const std::string last_bpb = last_match(last.output, "final_eval_exact val_loss:[0-9.]+ val_bpb:([0-9.]+)");
  const std::string weighted_bpb = last_match(weighted.output, "final_eval_exact val_loss:[0-9.]+ val_bpb:([0-9.]+)");
  ASSERT_FALSE(last_bpb.empty());
  EXPECT_NE(last_bpb, weighted_bpb);  // the loop-weighted score is a different number
  EXPECT_EQ(test::run_dartgolf("eval --checkpoint " + ckpt + " --eval-loss average").exit_code, 2);

  ASSERT_EQ(test::run_dartgolf(small_run("--set iterations=1 --overwrite")).exit_code, 0);  // now a gpt checkpoint
  const auto gpt = test::run_dartgolf("eval --checkpoint " + ckpt + " --eval-loss deep_supervision");
  EXPECT_EQ(gpt.exit_code, 1);
  EXPECT_NE(gpt.output.find("--eval-loss applies to DART models"), std::string::npos) << gpt.output;
}

TEST(CliBasics, VersionHelpAndUsageErrors) {
  const auto version = test::run_dartgolf("--version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.output.find("dartgolf "), std::string::npos);
  for (const char* sub : {"prepare", "train", "eval", "pack", "inspect", "bench"}) {
    const auto help = test::run_dartgolf(std::string(sub) + " --help");
    EXPECT_EQ(help.exit_code, 0) << sub;
    EXPECT_NE(help.output.find("Usage"), std::string::npos) << sub;
  }
  EXPECT_EQ(test::run_dartgolf("").exit_code, 2);
  EXPECT_EQ(test::run_dartgolf("frobnicate").exit_code, 2);
  EXPECT_EQ(test::run_dartgolf("train --no-such-flag").exit_code, 2);
}

}  // namespace
}  // namespace dg
