// Bad input and broken runs, as a new user meets them: each case once gave a wrong answer, lost
// data or a raw crash, and each now gives a clear error (or an honest result) and keeps what was
// already written.
#include <gtest/gtest.h>

#include <filesystem>
#include <limits>

#include "cli_fixtures.h"
#include "shard_fixtures.h"
#include "test_support.h"
#include "train/checkpoint.h"

namespace dg {
namespace {
namespace fs = std::filesystem;

using CliBadInput = test::SmallRunTest;
using test::last_match;

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// matrix_lr=1e6 once trained to the end at loss ln(1024) (NaN logits became uniform) and saved a
// NaN model with a val_bpb. Now the step that goes non-finite stops the run before it is applied.
TEST_F(CliBadInput, ADivergedRunStopsAndNamesTheTensor) {
  const auto r = test::run_dartgolf(small_run("--set iterations=30 --set matrix_lr=1e6"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("error: training diverged at step"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("first non-finite gradient: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("on_nan=stop"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("train_loss:6.9315"), std::string::npos) << r.output;  // never the uniform loss
  EXPECT_FALSE(fs::exists(dir_ / "run/final_model.safetensors"));
  // The reason is in the log file too, where a user looks after a long run.
  EXPECT_NE(test::read_text(dir_ / "run/train_log.txt").find("error: training diverged"), std::string::npos);
  EXPECT_NE(test::read_text(dir_ / "run/metrics.jsonl").find("\"event\":\"non_finite\""), std::string::npos);
}

TEST_F(CliBadInput, OnNanSkipSkipsStepsThenStopsAtTheLimit) {
  const auto r = test::run_dartgolf(small_run("--set iterations=40 --set matrix_lr=1e6 --set on_nan=skip "
                                              "--set nan_skip_limit=3"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(count_of(r.output, "(on_nan=skip, "), 2u) << r.output;  // two skipped, the third stops
  EXPECT_NE(r.output.find("(on_nan=skip: 3 steps in a row)"), std::string::npos) << r.output;
  const auto bad = test::run_dartgolf(small_run("--set iterations=1 --set on_nan=retry"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("on_nan='retry' (from --set) is not valid: use stop or skip"), std::string::npos)
      << bad.output;
}

// eval of a checkpoint holding NaN once exited 0 with a score.
TEST_F(CliBadInput, EvalAndPackRefuseACheckpointThatIsNotFinite) {
  ASSERT_EQ(test::run_dartgolf(small_run("--set iterations=1")).exit_code, 0);
  const fs::path good = dir_ / "run/final_model.safetensors";
  LoadedCheckpoint loaded = load_checkpoint(good);
  auto& [shape, values] = loaded.tensors.at("blocks.1.mlp.fc.weight");
  values[5] = std::numeric_limits<float>::infinity();
  std::vector<CheckpointTensor> tensors;
  for (const std::string& name : loaded.names)
    tensors.push_back({name, loaded.tensors.at(name).first, loaded.tensors.at(name).second.data()});
  const fs::path bad = dir_ / "diverged.safetensors";
  save_checkpoint(bad, tensors, loaded.meta);

  for (const std::string& command :
       {"eval --checkpoint " + test::quoted(bad), "pack --checkpoint " + test::quoted(bad) + " --out " +
                                                       test::quoted(dir_ / "a.int8.zlib")}) {
    const auto r = test::run_dartgolf(command);
    EXPECT_EQ(r.exit_code, 1) << command << "\n" << r.output;
    EXPECT_NE(r.output.find("tensor blocks.1.mlp.fc.weight holds inf at element 5"), std::string::npos) << r.output;
  }
  EXPECT_FALSE(fs::exists(dir_ / "a.int8.zlib"));
}

// pack --out X --checkpoint X once replaced the checkpoint with the artifact.
TEST_F(CliBadInput, PackNeverWritesOverItsCheckpoint) {
  ASSERT_EQ(test::run_dartgolf(small_run("--set iterations=1")).exit_code, 0);
  const fs::path ckpt = dir_ / "run/final_model.safetensors";
  const std::string before = test::read_text(ckpt);
  for (const fs::path& out : {ckpt, dir_ / "run/../run/./final_model.safetensors"}) {
    const auto r = test::run_dartgolf("pack --checkpoint " + test::quoted(ckpt) + " --out " + test::quoted(out));
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("is the checkpoint itself"), std::string::npos) << r.output;
  }
  EXPECT_EQ(test::read_text(ckpt), before);
}

// --out at a finished run once overwrote its model and appended to its metrics.
TEST_F(CliBadInput, AFinishedRunFolderIsNotOverwrittenUnlessAsked) {
  ASSERT_EQ(test::run_dartgolf(small_run("--set iterations=1")).exit_code, 0);
  const std::string model = test::read_text(dir_ / "run/final_model.safetensors");
  const auto again = test::run_dartgolf(small_run("--set iterations=2"));
  EXPECT_EQ(again.exit_code, 1) << again.output;
  EXPECT_NE(again.output.find("already holds a run (final_model.int8.zlib, final_model.safetensors)"),
            std::string::npos)
      << again.output;
  EXPECT_NE(again.output.find("--resume"), std::string::npos);
  EXPECT_NE(again.output.find("--overwrite"), std::string::npos);
  EXPECT_EQ(test::read_text(dir_ / "run/final_model.safetensors"), model);

  ASSERT_EQ(test::run_dartgolf(small_run("--set iterations=2 --overwrite")).exit_code, 0);
  const std::string metrics = test::read_text(dir_ / "run/metrics.jsonl");
  EXPECT_EQ(count_of(metrics, "\"event\":\"run_start\""), 1u);  // the old run's records are gone
  EXPECT_NE(metrics.find("\"step\":2"), std::string::npos);
}

// artifact_codec=gzip once failed only after the whole training run.
TEST_F(CliBadInput, EverySettingIsCheckedBeforeAnyDataIsRead) {
  struct Case {
    std::string args, expected;
  };
  const std::string nodata = " --set data_path=/nonexistent/data";
  const std::vector<Case> cases = {
      {"--set artifact_codec=gzip" + nodata, "gzip"},
      {"--set qat_scope=some" + nodata, "qat_scope='some' is not valid"},
      {"--set warmdown_iters=-5" + nodata, "warmdown_iters=-5 (from --set) must be >= 0"},
      {"--set grad_accum_steps=-1" + nodata, "grad_accum_steps=-1 (from --set) must be >= 0"},
      {"--set val_max_tokens=-7" + nodata, "val_max_tokens=-7 (from --set) must be >= 0"},
      {"--set val_max_tokens=10" + nodata, "val_max_tokens=10 is less than one validation sequence"},
      {"--set iterations=1e20" + nodata, "'iterations' = 1e+20 is out of the integer range"},
  };
  for (const Case& c : cases) {
    const auto r = test::run_dartgolf(small_run(c.args));
    EXPECT_EQ(r.exit_code, 1) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.expected), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_EQ(r.output.find("data folder"), std::string::npos) << c.args << "\n" << r.output;
  }
  const auto env = test::run_dartgolf(small_run("--set iterations=1"), "ITERATIONS=1e20");
  EXPECT_EQ(env.exit_code, 1) << env.output;
  EXPECT_NE(env.output.find("environment variable ITERATIONS: setting 'iterations' = 1e+20 is out of the integer range"),
            std::string::npos)
      << env.output;
}

// bench --set train_seq_len=0 once died of SIGFPE (exit 136); negative flags were coerced.
TEST(CliBadInputNoData, BenchAndEvalFlagsAreChecked) {
  const auto zero = test::run_dartgolf("bench --set train_seq_len=0 --steps 1");
  EXPECT_EQ(zero.exit_code, 1) << zero.output;
  EXPECT_NE(zero.output.find("train_seq_len=0 (from --set) must be >= 1"), std::string::npos) << zero.output;
  const auto warmup = test::run_dartgolf("bench --warmup -1 --steps 1");
  EXPECT_EQ(warmup.exit_code, 1) << warmup.output;
  EXPECT_NE(warmup.output.find("--warmup -1 must be >= 0"), std::string::npos) << warmup.output;
}

// Shards made with one tokenizer and scored with another once gave a silently wrong val_bpb.
TEST_F(CliBadInput, ShardsPreparedWithAnotherTokenizerAreRefused) {
  test::write_text(dir_ / "prepare.json",
                   R"({"format": "dartgolf-prepare-1", "tokenizer": {"path": "/data/other_bpe.model", "crc32": "0badf00d"}})");
  const auto r = test::run_dartgolf(small_run("--set iterations=1"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("tokenizer mismatch: the shards in " + dir_.path().string() +
                          " were prepared with /data/other_bpe.model (crc32 0badf00d), but TOKENIZER_PATH is " +
                          tokenizer_.string()),
            std::string::npos)
      << r.output;
  test::write_text(dir_ / "prepare.json", "not json");
  const auto broken = test::run_dartgolf(small_run("--set iterations=1"));
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_NE(broken.output.find("prepare.json: not a prepare manifest"), std::string::npos) << broken.output;
}

// A run validated on val_max_tokens once printed final_*_exact lines over that subset, and a plain
// `eval` of its checkpoint inherited the subset.
TEST_F(CliBadInput, PartialValidationIsNeverCalledExactAndEvalScoresTheWholeSplit) {
  const auto train = test::run_dartgolf(small_run("--set iterations=2 --set val_max_tokens=1000"));
  ASSERT_EQ(train.exit_code, 0) << train.output;
  const int64_t split = (3000 - 1) / 64 * 64, scored = 1000 / 64 * 64;
  const std::string counts = "val_targets:" + std::to_string(scored) + "/" + std::to_string(split);
  EXPECT_EQ(train.output.find("_exact val_loss"), std::string::npos) << train.output;
  EXPECT_NE(train.output.find("final_val_partial val_loss:"), std::string::npos) << train.output;
  EXPECT_NE(train.output.find("final_int8_zlib_roundtrip_partial val_loss:"), std::string::npos) << train.output;
  EXPECT_GE(count_of(train.output, counts), 3u) << train.output;

  const auto eval = test::run_dartgolf("eval --checkpoint " + test::quoted(dir_ / "run/final_model.safetensors"));
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_NE(eval.output.find("val_tokens:" + std::to_string(split)), std::string::npos) << eval.output;
  EXPECT_NE(eval.output.find("final_eval_exact val_loss:"), std::string::npos) << eval.output;
  const auto asked = test::run_dartgolf("eval --checkpoint " + test::quoted(dir_ / "run/final_model.safetensors") +
                                        " --set val_max_tokens=1000");
  EXPECT_NE(asked.output.find("final_eval_partial val_loss:"), std::string::npos) << asked.output;
  const auto negative = test::run_dartgolf("eval --checkpoint " + test::quoted(dir_ / "run/final_model.safetensors") +
                                           " --eval-batch-tokens -64");
  EXPECT_EQ(negative.exit_code, 1);
  EXPECT_NE(negative.output.find("--eval-batch-tokens -64 must be >= 0"), std::string::npos) << negative.output;
}

// A data_path containing [...] was read as a glob pattern and found no shards.
TEST_F(CliBadInput, ADataFolderWithBracketsInItsName) {
  const fs::path odd = dir_ / "fineweb[sp1024]";
  fs::create_directories(odd);
  test::write_random_shards(odd, 5000, 1000, 1024, 7);
  const auto r = test::run_dartgolf(small_run("--set iterations=1 --set data_path=" + test::quoted(odd)));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("train_shards:1"), std::string::npos) << r.output;
}

// "dartgolf trian" once said "A subcommand is required"; library errors once echoed raw bytes.
TEST(CliBadInputNoData, TyposAndBinaryFilesGetReadableErrors) {
  const auto typo = test::run_dartgolf("trian --preset tiny");
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.output.find("unknown command 'trian'; did you mean 'train'?"), std::string::npos) << typo.output;
  const auto far = test::run_dartgolf("frobnicate");
  EXPECT_EQ(far.exit_code, 2);
  EXPECT_NE(far.output.find("unknown command 'frobnicate' Commands: prepare, train"), std::string::npos) << far.output;

  test::TempDir dir;
  test::write_text(dir / "config.json", std::string("\xff\xfe\x01{\x1b[31m", 9));
  const auto binary = test::run_dartgolf("train --config " + test::quoted(dir / "config.json"));
  EXPECT_EQ(binary.exit_code, 1) << binary.output;
  EXPECT_NE(binary.output.find("config.json: not valid JSON"), std::string::npos) << binary.output;
  EXPECT_EQ(binary.output.find('\x1b'), std::string::npos) << "an escape byte reached the terminal";
  EXPECT_EQ(binary.output.find('\xff'), std::string::npos) << "an invalid UTF-8 byte reached the terminal";
}

}  // namespace
}  // namespace dg
