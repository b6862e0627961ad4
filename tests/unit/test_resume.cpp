// A run killed at any step (SIGKILL) and resumed, or stopped by SIGTERM/SIGINT and resumed, ends
// with bit-identical weights and the same logged losses as a run never interrupted; a resumed run
// refuses settings that would make it a different run, and skips a corrupt newest checkpoint.
#include <gtest/gtest.h>

#include <signal.h>

#include <filesystem>
#include <map>

#include "cli_fixtures.h"
#include "core/rng.h"
#include "test_support.h"
#include "train/checkpoint.h"

namespace dg {
namespace {
namespace fs = std::filesystem;

class ResumeTest : public test::SmallRunTest {
 protected:
  // 40 steps of a small DART with loop dropout (its own random draws) and QAT from half-way, so every
  // piece of saved state matters; a checkpoint every 3 steps.
  std::string run_in(const fs::path& dir, const std::string& extra = "") const {
    return small_run_in(dir, "--set iterations=40 --set val_loss_every=16 --set train_log_every=1 --set checkpoint_every=3"
                        " --set checkpoint_every_seconds=0 --set keep_checkpoints=2 --set model=dart --set num_loops=3"
                        " --set num_memory_tokens=2 --set delta_rank=2 --set loop_dropout=1 --set qat_scope=all"
                        " --set qat_start_fraction=0.5 --set qat_noise=1 " + extra);
  }
  // The weights of a finished run, tensor by tensor.
  static std::map<std::string, std::vector<float>> weights(const fs::path& dir) {
    const LoadedCheckpoint c = load_checkpoint(dir / "final_model.safetensors");
    std::map<std::string, std::vector<float>> out;
    for (const auto& [name, tensor] : c.tensors) out[name] = tensor.second;
    return out;
  }
  // step -> "train_loss:X" from every step line of the logs given (later files win).
  static std::map<int, std::string> step_losses(const std::vector<std::string>& logs) {
    std::map<int, std::string> losses;
    const std::regex re(R"(step:(\d+)/40 (train_loss:[0-9.]+|val_loss:[0-9.]+ val_bpb:[0-9.]+))");
    for (const std::string& log : logs)
      for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator(); ++it)
        losses[std::stoi((*it)[1]) * 2 + ((*it)[2].str()[0] == 'v')] = (*it)[2];
    return losses;
  }
  void SetUp() override {
    test::SmallRunTest::SetUp();
    if (IsSkipped()) return;
    const auto reference = test::run_dartgolf(run_in(dir_ / "reference"));
    ASSERT_EQ(reference.exit_code, 0) << reference.output;
    reference_log_ = reference.output;
  }
  std::string reference_log_;
};

TEST_F(ResumeTest, KilledAtRandomStepsAndResumedEndsBitIdentical) {
  Rng pick(2024);
  for (int trial = 0; trial < 3; ++trial) {
    const int kill_at = 4 + static_cast<int>(pick.below(32));  // after at least one checkpoint (step 3)
    SCOPED_TRACE("SIGKILL after step " + std::to_string(kill_at));
    const fs::path dir = dir_ / ("killed" + std::to_string(trial));
    const pid_t pid = test::start_dartgolf(run_in(dir), dir_ / "first.log");
    ASSERT_TRUE(test::wait_for_text(dir / "metrics.jsonl", "\"step\":" + std::to_string(kill_at) + ","));
    ::kill(pid, SIGKILL);
    ASSERT_EQ(test::wait_for_exit(pid), 128 + SIGKILL);
    const auto resumed = test::run_dartgolf("train --resume " + test::quoted(dir));
    ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
    EXPECT_NE(resumed.output.find("resume: continuing run"), std::string::npos) << resumed.output;
    EXPECT_EQ(weights(dir), weights(dir_ / "reference"));
    const auto expected = step_losses({reference_log_});
    const auto got = step_losses({test::read_text(dir_ / "first.log"), resumed.output});
    EXPECT_EQ(got, expected);
    EXPECT_EQ(test::last_match(resumed.output, "final_int8_zlib_roundtrip_exact val_loss:([0-9.]+)"),
              test::last_match(reference_log_, "final_int8_zlib_roundtrip_exact val_loss:([0-9.]+)"));
  }
}

TEST_F(ResumeTest, SigtermAndSigintStopWithACheckpointThatResumes) {
  for (const int signal : {SIGTERM, SIGINT}) {
    const fs::path dir = dir_ / ("signalled" + std::to_string(signal));
    const pid_t pid = test::start_dartgolf(run_in(dir, "--set checkpoint_every=0"), dir_ / "first.log");
    ASSERT_TRUE(test::wait_for_text(dir / "metrics.jsonl", "\"step\":11,"));
    ::kill(pid, signal);
    EXPECT_EQ(test::wait_for_exit(pid), 3);  // stopped, resumable
    const std::string first = test::read_text(dir_ / "first.log");
    EXPECT_NE(first.find(std::string("stopped by ") + (signal == SIGTERM ? "SIGTERM" : "SIGINT")), std::string::npos)
        << first;
    EXPECT_NE(first.find("dartgolf train --resume " + dir.string()), std::string::npos) << first;
    EXPECT_FALSE(fs::exists(dir / "final_model.safetensors"));
    const auto resumed = test::run_dartgolf("train --resume " + test::quoted(dir));
    ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
    EXPECT_EQ(weights(dir), weights(dir_ / "reference"));
    EXPECT_EQ(step_losses({first, resumed.output}), step_losses({reference_log_}));
  }
}

TEST_F(ResumeTest, AResumedRunRefusesSettingsThatChangeItAndSkipsACorruptCheckpoint) {
  const fs::path dir = dir_ / "run";
  const pid_t pid = test::start_dartgolf(run_in(dir), dir_ / "first.log");
  ASSERT_TRUE(test::wait_for_text(dir / "metrics.jsonl", "\"step\":10,"));
  ::kill(pid, SIGKILL);
  test::wait_for_exit(pid);

  const auto changed = test::run_dartgolf("train --resume " + test::quoted(dir) + " --set matrix_lr=0.05 --set seed=7");
  EXPECT_EQ(changed.exit_code, 1) << changed.output;
  EXPECT_NE(changed.output.find("matrix_lr: 0.04 in the run, now 0.05 (from --set)"), std::string::npos) << changed.output;
  EXPECT_NE(changed.output.find("seed: 1337 in the run, now 7 (from --set)"), std::string::npos) << changed.output;
  const auto preset = test::run_dartgolf("train --resume " + test::quoted(dir) + " --preset pr345");
  EXPECT_EQ(preset.exit_code, 1) << preset.output;
  EXPECT_NE(preset.output.find("model_dim: 32 in the run, now 512 (from preset pr345)"), std::string::npos)
      << preset.output;
  const auto both = test::run_dartgolf("train --resume " + test::quoted(dir) + " --overwrite");
  EXPECT_EQ(both.exit_code, 2) << both.output;  // exclusive options: a usage error

  // Corrupt the newest checkpoint's data (a byte near its end): the checksum catches it, the
  // previous checkpoint is used, and the run still ends bit-identical.
  std::vector<std::pair<int, fs::path>> checkpoints;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().rfind("checkpoint_step", 0) == 0)
      checkpoints.emplace_back(std::stoi(entry.path().filename().string().substr(15)), entry.path());
  ASSERT_EQ(checkpoints.size(), 2u);  // keep_checkpoints=2
  std::sort(checkpoints.begin(), checkpoints.end());
  std::string bytes = test::read_text(checkpoints.back().second);
  bytes[bytes.size() - 3] ^= 0x40;
  test::write_text(checkpoints.back().second, bytes);
  const auto direct = test::run_dartgolf("eval --checkpoint " + test::quoted(checkpoints.back().second));
  EXPECT_EQ(direct.exit_code, 1);
  EXPECT_NE(direct.output.find("checksum mismatch (stored data_crc32"), std::string::npos) << direct.output;

  const auto resumed = test::run_dartgolf("train --resume " + test::quoted(dir) + " --set val_loss_every=0");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resume: skipping " + checkpoints.back().second.string() + ": checksum mismatch"),
            std::string::npos)
      << resumed.output;
  EXPECT_NE(resumed.output.find("from step " + std::to_string(checkpoints.front().first) + " "), std::string::npos)
      << resumed.output;
  EXPECT_EQ(weights(dir), weights(dir_ / "reference"));  // val_loss_every only changes what is logged

  const auto finished = test::run_dartgolf("train --resume " + test::quoted(dir));
  EXPECT_EQ(finished.exit_code, 1);
  EXPECT_NE(finished.output.find("this run finished"), std::string::npos) << finished.output;
  const auto nothing = test::run_dartgolf("train --resume " + test::quoted(dir_ / "nowhere"));
  EXPECT_EQ(nothing.exit_code, 1);
  EXPECT_NE(nothing.output.find("no such run folder"), std::string::npos) << nothing.output;
}

}  // namespace
}  // namespace dg
