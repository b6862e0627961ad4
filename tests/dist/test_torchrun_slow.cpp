// Debian's torchrun (torch 1.13, no agent store: rank 0's store takes MASTER_PORT) starts the
// ranks and they train exactly what ranks started by hand train; SIGTERM to torchrun (which forwards
// it to its workers) stops them with a checkpoint that torchrun resumes. Slow: torchrun's Python
// start-up, three times.
#include <gtest/gtest.h>
#include <signal.h>

#include "dist_run_fixture.h"

namespace dg {
namespace {
namespace fs = std::filesystem;

class Torchrun : public test::LauncherTest {
 protected:
  // torch 1.13 on Python 3.11 crashes at start unless --tee/--redirects get a per-rank mapping.
  std::string torchrun(const std::string& args) const {
    return "/usr/bin/torchrun --standalone --nproc_per_node=2 --tee 0:1 --redirects 0:1 --no_python " + dartgolf() + " " +
           args;
  }
  void SetUp() override {
    test::LauncherTest::SetUp();
    if (!IsSkipped() && !fs::exists("/usr/bin/torchrun")) GTEST_SKIP() << "needs Debian's torchrun (python3-torch)";
  }
};

TEST_F(Torchrun, TrainsWhatRanksStartedByHandTrain) {
  train_by_hand();
  const auto r = test::run_command("cd " + test::quoted(dir_.path()) + " && " + torchrun(run_args(dir_ / "torchrun", settings_)));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("(MASTER_PORT) muon:"), std::string::npos) << r.output;  // no agent store in torch 1.13
  EXPECT_EQ(weights(dir_ / "torchrun"), weights(dir_ / "by_hand"));
}

TEST_F(Torchrun, SigtermStopsTheWorkersWithACheckpointThatTorchrunResumes) {
  settings_ = "--set iterations=300 --set val_loss_every=0 --set train_log_every=50";
  train_by_hand();
  const fs::path run = dir_ / "run";
  const pid_t agent = start_shell(torchrun(run_args(run, settings_)), dir_ / "first.log");
  ASSERT_TRUE(test::wait_for_text(run / "metrics.jsonl", "\"step\":3,"));
  ::kill(agent, SIGTERM);  // the agent sends its workers SIGTERM in turn
  test::wait_for_exit(agent);  // torchrun itself reports the signal as a failure
  const std::string first = test::read_text(dir_ / "first.log");
  const std::string step = test::last_match(first, R"(stopped by SIGTERM at step (\d+))");
  ASSERT_FALSE(step.empty()) << first;
  ASSERT_TRUE(fs::exists(run / train_checkpoint_name(std::stoi(step)))) << first;
  const auto resumed = test::run_command("cd " + test::quoted(dir_.path()) + " && " + torchrun("train --resume " + test::quoted(run)));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("from step " + step + " "), std::string::npos) << resumed.output;
  EXPECT_EQ(weights(run), weights(dir_ / "by_hand"));
}

}  // namespace
}  // namespace dg
