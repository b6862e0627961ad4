// scripts/launch.sh: it trains exactly what ranks started by hand train, stops the job naming a
// rank that died, forwards Ctrl-C once so every rank stops at one step with a checkpoint, and
// refuses bad arguments. (torchrun: test_torchrun_slow.cpp.)
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "dist_run_fixture.h"

namespace dg {
namespace {
namespace fs = std::filesystem;

class LaunchSh : public test::LauncherTest {};

// The child of `parent` started with RANK=<rank> in its environment (a rank launch.sh started).
pid_t rank_process(pid_t parent, int rank) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string pid, comm, state;
    pid_t ppid = 0;
    if (!(stat >> pid >> comm >> state >> ppid) || ppid != parent) continue;
    const std::string environ = test::read_text(entry.path() / "environ");
    if (environ.find(std::string("\0RANK=", 6) + std::to_string(rank) + '\0') != std::string::npos ||
        environ.rfind("RANK=" + std::to_string(rank) + '\0', 0) == 0)
      return std::stoi(name);
  }
  return -1;
}

TEST_F(LaunchSh, TrainsWhatRanksStartedByHandTrain) {
  train_by_hand();
  const auto r = test::run_command("cd " + test::quoted(dir_.path()) + " && " + launch_sh() +
                                   " --nproc-per-node 2 -- " + dartgolf() + " " + run_args(dir_ / "launch", settings_));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("world_size:2"), std::string::npos) << r.output;
  EXPECT_EQ(weights(dir_ / "launch"), weights(dir_ / "by_hand"));
}

TEST_F(LaunchSh, StopsTheJobWhenARankDiesAndNamesIt) {
  const pid_t launcher = start_shell(launch_sh() + " --nproc-per-node 2 -- " + dartgolf() + " " +
                                         run_args(dir_ / "run", "--set iterations=100000 --set val_loss_every=0"),
                                     dir_ / "launch.log");
  ASSERT_TRUE(test::wait_for_text(dir_ / "run" / "metrics.jsonl", "\"step\":3,"));
  const pid_t rank1 = rank_process(launcher, 1);
  ASSERT_GT(rank1, 0);
  ::kill(rank1, SIGKILL);
  EXPECT_EQ(test::wait_for_exit(launcher), 128 + SIGKILL);
  const std::string out = test::read_text(dir_ / "launch.log");
  EXPECT_NE(out.find("launch.sh: rank 1 (pid " + std::to_string(rank1) + ") exited with code 137 (killed by SIGKILL)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("launch.sh: the job failed: rank 1 exited with code 137"), std::string::npos) << out;
}

TEST_F(LaunchSh, ForwardsCtrlCOnceAndEveryRankStopsWithACheckpoint) {
  const pid_t launcher = start_shell(launch_sh() + " --nproc-per-node 2 -- " + dartgolf() + " " +
                                         run_args(dir_ / "run", "--set iterations=100000 --set val_loss_every=0"),
                                     dir_ / "launch.log");
  ASSERT_TRUE(test::wait_for_text(dir_ / "run" / "metrics.jsonl", "\"step\":3,"));
  ::kill(launcher, SIGINT);
  EXPECT_EQ(test::wait_for_exit(launcher), 3);
  const std::string out = test::read_text(dir_ / "launch.log");
  const std::string step = test::last_match(out, R"(stopped by SIGINT at step (\d+))");
  ASSERT_FALSE(step.empty()) << out;
  EXPECT_TRUE(fs::exists(dir_ / "run" / train_checkpoint_name(std::stoi(step)))) << out;
  EXPECT_EQ(out.find("launch.sh: the job failed"), std::string::npos) << out;
}

TEST_F(LaunchSh, RefusesBadArguments) {
  const auto none = test::run_command(launch_sh() + " --nproc-per-node 2");
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.output.find("no command"), std::string::npos) << none.output;
  const auto zero = test::run_command(launch_sh() + " --nproc-per-node 0 -- true");
  EXPECT_EQ(zero.exit_code, 2);
  EXPECT_NE(zero.output.find("--nproc-per-node '0' must be a positive integer"), std::string::npos) << zero.output;
  const auto nodes = test::run_command(launch_sh() + " --nproc-per-node 1 --nnodes 2 --node-rank 1 -- true");
  EXPECT_EQ(nodes.exit_code, 2);
  EXPECT_NE(nodes.output.find("--nnodes 2 needs --master-addr"), std::string::npos) << nodes.output;
  const auto rank = test::run_command(launch_sh() + " --nproc-per-node 1 --nnodes 2 --node-rank 2 -- true");
  EXPECT_NE(rank.output.find("--node-rank '2' must be in [0, --nnodes=2)"), std::string::npos) << rank.output;
}

}  // namespace
}  // namespace dg
