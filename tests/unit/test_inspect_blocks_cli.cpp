// `dartgolf inspect --blocks` end to end: a tiny DART run with τ-fusion at loop_input, DAAM at
// mlp_input and the head gate at attn_output (which also logs τ while training), then inspect
// writes blocks.json and valid heatmap PNGs; checkpoints without blocks and a missing data folder
// are clear errors, and `inspect FILE` still reports the file.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>

#include <nlohmann/json.hpp>

#include "shard_fixtures.h"
#include "test_support.h"

namespace dg {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kBlocks =
    R"([{"type":"tau_fusion","site":"loop_input","hidden":8},{"type":"daam","site":"mlp_input"},)"
    R"({"type":"head_gate","site":"attn_output"}])";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

class InspectBlocksCli : public ::testing::Test {
 protected:
  void SetUp() override {
    tokenizer_ = test::shared_data("fineweb_1024_bpe.model");
    if (!fs::exists(tokenizer_)) GTEST_SKIP() << "needs " << tokenizer_;
    test::write_random_shards(dir_.path(), 20000, 3000, 1024, 7);
  }
  // A very small DART run of `iterations` steps in dir_/<name>, with `extra` settings.
  test::CommandResult train(const std::string& name, const std::string& extra) const {
    return test::run_dartgolf(
        "train --preset tiny --out " + test::quoted(dir_ / name) + " --set data_path=" + test::quoted(dir_.path()) +
        " --set tokenizer_path=" + test::quoted(tokenizer_) +
        " --set model=dart --set num_loops=2 --set num_memory_tokens=2 --set delta_rank=2 --set mlp_mult=2"
        " --set qk_gain_init=1 --set model_dim=32 --set num_heads=2 --set num_kv_heads=1 --set train_seq_len=64"
        " --set train_batch_tokens=256 --set val_loss_every=0 --set threads=1 --set iterations=2 " + extra);
  }
  std::string checkpoint(const std::string& name) const { return test::quoted(dir_ / name / "final_model.safetensors"); }

  test::TempDir dir_;
  fs::path tokenizer_;
};

const json* block_of_type(const json& report, const std::string& type) {
  for (const json& b : report["blocks"])
    if (b["type"] == type) return &b;
  return nullptr;
}

// The PNG signature, then an IHDR chunk of a non-empty 8-bit RGB image.
void expect_valid_png(const fs::path& path) {
  ASSERT_TRUE(fs::exists(path)) << path;
  const std::string bytes = test::read_text(path);
  ASSERT_GT(bytes.size(), 8u + 25u + 12u) << path;
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << path;
  EXPECT_EQ(bytes.substr(12, 4), "IHDR") << path;
  EXPECT_EQ(bytes[24], 8) << path;  // bit depth
  EXPECT_EQ(bytes[25], 2) << path;  // RGB
  EXPECT_EQ(bytes.substr(bytes.size() - 8, 4), "IEND") << path;
}

TEST_F(InspectBlocksCli, WritesStatisticsAndHeatmapsOfEveryBlock) {
  const auto trained = train("run", "--set blocks='" + std::string(kBlocks) + "'");
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  // Training logs mean τ per stream per loop at each train-log step, on the console and in metrics.
  EXPECT_TRUE(std::regex_search(
      trained.output, std::regex(R"(tau \S+tau_fusion loop0:x=0\.\d{3},x0=0\.\d{3},skip=0\.\d{3} loop1:x=0\.\d{3},)")))
      << trained.output;
  const std::string metrics = test::read_text(dir_ / "run/metrics.jsonl");
  EXPECT_TRUE(contains(metrics, R"("event":"tau")")) << metrics;

  const auto r = test::run_dartgolf("inspect --blocks " + checkpoint("run") + " --data " + test::quoted(dir_.path()) +
                                    " --tokenizer " + test::quoted(tokenizer_));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(mean tau loop1: x=0\.\d{3},x0=0\.\d{3},skip=0\.\d{3})")))
      << r.output;
  EXPECT_TRUE(contains(r.output, "importance factor 0.000..1.000")) << r.output;
  EXPECT_TRUE(contains(r.output, "mean gate ")) << r.output;

  const fs::path out = dir_ / "run/blocks";  // the default: beside the checkpoint
  const json report = json::parse(test::read_text(out / "blocks.json"));
  EXPECT_EQ(report["format"], "dartgolf-block-statistics-1");
  EXPECT_EQ(report["step"], 2);
  const int64_t val_tokens = (3000 - 1) / 64 * 64;
  EXPECT_EQ(report["val_tokens"], val_tokens);
  EXPECT_GT(report["val_bpb"].get<double>(), 0.0);
  ASSERT_EQ(report["blocks"].size(), 3u) << report.dump(1);

  const json* tau = block_of_type(report, "tau_fusion");
  ASSERT_NE(tau, nullptr);
  EXPECT_EQ((*tau)["site"], "loop_input");
  EXPECT_EQ((*tau)["channels"], (std::vector<std::string>{"x", "x0", "skip"}));
  EXPECT_EQ((*tau)["width"], 32);
  EXPECT_EQ((*tau)["loops"], (std::vector<int64_t>{0, 1}));
  for (const json& use : (*tau)["uses"]) {
    EXPECT_EQ(use["tokens"], val_tokens) << "token rows only: memory rows are not observed";
    for (const json& c : use["channels"]) {  // τ = σ(·)
      EXPECT_GT(c["min"].get<double>(), 0.0);
      EXPECT_LT(c["max"].get<double>(), 1.0);
      EXPECT_GE(c["std"].get<double>(), 0.0);
    }
    ASSERT_EQ(use["feature_mean"].size(), 3u);
    EXPECT_EQ(use["feature_mean"][0].size(), 32u);
  }

  const json* daam = block_of_type(report, "daam");
  ASSERT_NE(daam, nullptr);
  EXPECT_EQ((*daam)["site"], "mlp_input");
  EXPECT_EQ((*daam)["channels"], (std::vector<std::string>{"group0", "group1"}));  // groups default to num_heads
  const json& factors = (*daam)["importance_factors"];
  ASSERT_EQ(factors.size(), 2u);  // loops × groups
  std::vector<double> all;
  for (const json& row : factors) {
    ASSERT_EQ(row.size(), 2u);
    for (const json& v : row) all.push_back(v.get<double>());
  }
  for (double v : all) {
    EXPECT_GE(v, 0.0);
    EXPECT_LE(v, 1.0);
  }
  EXPECT_EQ(*std::min_element(all.begin(), all.end()), 0.0);
  EXPECT_EQ(*std::max_element(all.begin(), all.end()), 1.0);

  const json* gate = block_of_type(report, "head_gate");
  ASSERT_NE(gate, nullptr);
  EXPECT_EQ((*gate)["channels"], (std::vector<std::string>{"head0", "head1"}));
  EXPECT_EQ((*gate)["mean"].size(), 2u);

  // Heatmaps: importance (DAAM), tau_mean + tau_features (τ), head_gate; each described and valid.
  int files = 0;
  for (const json& b : report["blocks"]) {
    ASSERT_TRUE(b.contains("heatmaps")) << b["name"];
    for (const json& h : b["heatmaps"]) {
      ++files;
      EXPECT_TRUE(h.contains("rows") && h.contains("columns") && h.contains("shape")) << h.dump();
      expect_valid_png(out / h["file"].get<std::string>());
    }
  }
  EXPECT_EQ(files, 4);
  EXPECT_EQ((*daam)["heatmaps"][0]["shape"], (std::vector<int64_t>{2, 2}));
  EXPECT_EQ((*tau)["heatmaps"][1]["shape"], (std::vector<int64_t>{2 * 3, 32}));

  // --max-tokens and --out.
  const auto limited = test::run_dartgolf("inspect --blocks " + checkpoint("run") + " --data " +
                                          test::quoted(dir_.path()) + " --max-tokens 128 --out " +
                                          test::quoted(dir_ / "limited"));
  ASSERT_EQ(limited.exit_code, 0) << limited.output;
  const json small = json::parse(test::read_text(dir_ / "limited/blocks.json"));
  EXPECT_EQ(small["val_tokens"], 128);
  EXPECT_EQ(block_of_type(small, "daam")->at("uses")[0]["tokens"], 128);

  // `inspect FILE` on the same checkpoint still reports the file.
  const auto plain = test::run_dartgolf("inspect " + checkpoint("run"));
  EXPECT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_FALSE(contains(plain.output, "importance factor")) << plain.output;
}

TEST_F(InspectBlocksCli, ErrorsNameTheProblem) {
  ASSERT_EQ(train("plain", "").exit_code, 0);
  const auto no_blocks = test::run_dartgolf("inspect --blocks " + checkpoint("plain") + " --data " +
                                            test::quoted(dir_.path()));
  EXPECT_EQ(no_blocks.exit_code, 1) << no_blocks.output;
  EXPECT_TRUE(contains(no_blocks.output, "trained without pluggable blocks")) << no_blocks.output;
  EXPECT_TRUE(contains(no_blocks.output, "`blocks` setting")) << no_blocks.output;
  EXPECT_FALSE(fs::exists(dir_ / "plain/blocks")) << "nothing written on an error";

  const auto missing = test::run_dartgolf("inspect --blocks " + checkpoint("plain") + " --data /nonexistent/val");
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_TRUE(contains(missing.output, "trained without pluggable blocks")) << "the model is checked first";

  ASSERT_EQ(train("with", "--set blocks='[{\"type\":\"daam\",\"site\":\"mlp_input\"}]' --set iterations=1").exit_code, 0);
  const auto no_data = test::run_dartgolf("inspect --blocks " + checkpoint("with") + " --data /nonexistent/val");
  EXPECT_EQ(no_data.exit_code, 1) << no_data.output;
  EXPECT_TRUE(contains(no_data.output, "data folder /nonexistent/val does not exist")) << no_data.output;

  const auto usage = test::run_dartgolf("inspect --max-tokens 5");
  EXPECT_EQ(usage.exit_code, 2) << usage.output;
  EXPECT_EQ(test::run_dartgolf("inspect " + checkpoint("with") + " --blocks " + checkpoint("with")).exit_code, 2);
  EXPECT_EQ(test::run_dartgolf("inspect").exit_code, 2);
}

}  // namespace
}  // namespace dg
