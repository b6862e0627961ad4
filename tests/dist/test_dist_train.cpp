// Data-parallel training with 2 CPU ranks (processes on loopback, Gloo): the same global batch
// reproduces the 1-rank run; only rank 0 writes; a killed rank, a missing rank, a taken port and
// ranks with other settings end the job with a clear error; a stop signal stops all ranks at one
// step with a checkpoint that 2 ranks resume bit for bit; torchrun >= 2's agent store is left alone.
#include <gtest/gtest.h>
#include <signal.h>

#include <cmath>

#include "dist_run_fixture.h"

namespace dg {
namespace {
namespace fs = std::filesystem;

class DistTrain : public test::DistRunTest {};

// The tolerance: 2 ranks sum each micro-batch's gradient before adding them, 1 rank accumulates
// the second into the first inside the backward pass, so the weights differ in the last float bits
// from step 1 on; over 24 steps of this model the losses stay within 1e-5 (measured: about 3e-8).
constexpr double kLossTolerance = 1e-5;

void expect_same_trajectory(const std::map<int64_t, double>& one, const std::map<int64_t, double>& two,
                            const char* what) {
  ASSERT_EQ(one.size(), two.size()) << what;
  ASSERT_FALSE(one.empty()) << what;
  for (const auto& [step, loss] : one) {
    ASSERT_TRUE(two.count(step)) << what << " step " << step;
    EXPECT_NEAR(two.at(step), loss, kLossTolerance) << what << " at step " << step;
  }
}

class SameGlobalBatch : public DistTrain, public ::testing::WithParamInterface<std::string> {};

TEST_P(SameGlobalBatch, TwoRanksReproduceTheOneRankTrajectory) {
  const std::string model = GetParam();
  const auto single = test::run_dartgolf(run_args(dir_ / "one", model + " --set grad_accum_steps=2"));
  ASSERT_EQ(single.exit_code, 0) << single.output;
  const Job job = start_job(2, run_args(dir_ / "two", model + " --set grad_accum_steps=1"), "two");
  EXPECT_EQ(wait_job(job), (std::vector<int>{0, 0})) << output(job, 0) << output(job, 1);
  EXPECT_NE(output(job, 0).find("world_size:2 grad_accum_steps:1"), std::string::npos) << output(job, 0);
  // gpt hands over each block's gradient during backward; DART's shared blocks are final only at the end.
  const std::string buckets = model.empty() ? "gradient_all_reduce: 2 buckets averaged during backward"
                                            : "gradient_all_reduce: 0 buckets averaged during backward";
  EXPECT_NE(output(job, 0).find(buckets), std::string::npos) << output(job, 0);
  // Step 1 starts from the same weights on the same tokens: its loss is the same to the bit.
  EXPECT_EQ(metric(dir_ / "two", "train", "train_loss").at(1), metric(dir_ / "one", "train", "train_loss").at(1));
  expect_same_trajectory(metric(dir_ / "one", "train", "train_loss"), metric(dir_ / "two", "train", "train_loss"),
                         "train_loss");
  expect_same_trajectory(metric(dir_ / "one", "val", "val_loss"), metric(dir_ / "two", "val", "val_loss"), "val_loss");
}

// gpt, and DART with loop dropout, whose per-micro-batch loop counts must follow the global order.
INSTANTIATE_TEST_SUITE_P(Models, SameGlobalBatch,
                         ::testing::Values("", "--set model=dart --set num_loops=3 --set num_memory_tokens=2 "
                                               "--set delta_rank=2 --set loop_dropout=1"));

TEST_F(DistTrain, OnlyRankZeroWritesFiles) {
  std::vector<fs::path> cwds = {dir_ / "cwd0", dir_ / "cwd1"};
  for (const auto& c : cwds) fs::create_directories(c);
  // No --out: every rank would write runs/<run_id> in its own folder, if it wrote at all.
  const std::string args = small_run("--set iterations=6 --set checkpoint_every=3 --set checkpoint_every_seconds=0");
  const std::string no_out = std::regex_replace(args, std::regex(" --out '[^']*'"), "");
  const Job job = start_job(2, no_out, "files", {}, cwds);
  EXPECT_EQ(wait_job(job), (std::vector<int>{0, 0})) << output(job, 0) << output(job, 1);
  EXPECT_TRUE(fs::is_empty(cwds[1])) << "rank 1 wrote into its folder";
  ASSERT_TRUE(fs::is_directory(cwds[0] / "runs"));
  const fs::path run = fs::directory_iterator(cwds[0] / "runs")->path();
  for (const char* file : {"train_log.txt", "metrics.jsonl", "final_model.safetensors", "final_model.int8.zlib",
                           "checkpoint_step000006.safetensors"})
    EXPECT_TRUE(fs::exists(run / file)) << file;
  EXPECT_EQ(output(job, 1), "");  // the other ranks are silent unless they fail
  // Rank 0's generated run id is everyone's: the settings check would have refused two.
  EXPECT_NE(test::read_text(run / "metrics.jsonl").find("\"run_id\":\"" + run.filename().string() + "\""),
            std::string::npos);
}

TEST_F(DistTrain, AKilledRankEndsTheWholeJobWithAnError) {
  const Job job = start_job(2, run_args(dir_ / "run", "--set iterations=100000 --set val_loss_every=0"), "killed");
  ASSERT_TRUE(test::wait_for_text(dir_ / "run" / "metrics.jsonl", "\"step\":5,"));
  ::kill(job.pids[1], SIGKILL);
  // The default dist_timeout_seconds is 600: rank 0 ends because the connection broke, not by a timeout.
  EXPECT_EQ(test::wait_for_exit(job.pids[0]), 1);
  EXPECT_EQ(test::wait_for_exit(job.pids[1]), 128 + SIGKILL);
  const std::string out = output(job, 0);
  EXPECT_NE(out.find("error: rank 0: "), std::string::npos) << out;
  EXPECT_NE(out.find("over Gloo failed"), std::string::npos) << out;
  EXPECT_NE(out.find("another rank exited or was killed"), std::string::npos) << out;
  EXPECT_NE(test::read_text(dir_ / "run" / "train_log.txt").find("error: rank 0: "), std::string::npos);
}

TEST_F(DistTrain, ARankThatNeverComesFailsTheOthersAfterTheTimeout) {
  Job job;
  job.port = test::free_port();
  job.outputs.push_back(dir_ / "alone.log");
  job.pids.push_back(
      test::start_rank(0, 2, job.port, run_args(dir_ / "run", "--set dist_timeout_seconds=1"), job.outputs[0], dir_.path()));
  EXPECT_EQ(wait_job(job), std::vector<int>{1});
  EXPECT_NE(output(job, 0).find("error: rank 0 of 2: rank 1 did not join the rendezvous at 127.0.0.1:" +
                                std::to_string(job.port) + " (MASTER_PORT) within dist_timeout_seconds=1 s"),
            std::string::npos)
      << output(job, 0);
  EXPECT_FALSE(fs::exists(dir_ / "run")) << "nothing is written before all ranks are there";
}

TEST_F(DistTrain, ATakenPortIsAClearError) {
  test::PortHolder other_program;
  const Job job = start_job(2, run_args(dir_ / "run", "--set dist_timeout_seconds=2"), "taken", {}, {},
                            other_program.port());
  const std::vector<int> codes = wait_job(job);
  EXPECT_EQ(codes[0], 1);
  EXPECT_NE(output(job, 0).find("rank 0 cannot listen on port " + std::to_string(other_program.port()) +
                                " (MASTER_PORT) for the rendezvous store: the port is in use"),
            std::string::npos)
      << output(job, 0);
  // Rank 1 reached the other program, which never answers as dartgolf's store does.
  EXPECT_EQ(codes[1], 1);
  EXPECT_NE(output(job, 1).find("rank 1 of 2: something listens at 127.0.0.1:" + std::to_string(other_program.port()) +
                                " but does not answer as dartgolf's rendezvous store"),
            std::string::npos)
      << output(job, 1);
}

TEST_F(DistTrain, BesideTorchrunsAgentStoreItListensOnTheNextPort) {
  // torch >= 2: the agent's store holds MASTER_PORT and says so with TORCHELASTIC_USE_AGENT_STORE.
  std::unique_ptr<test::PortHolder> agent;
  for (int attempt = 0; attempt < 20 && !agent; ++attempt) {
    agent = std::make_unique<test::PortHolder>();
    if (!test::port_is_free(agent->port() + 1)) agent.reset();
  }
  ASSERT_TRUE(agent) << "no port with a free successor";
  const Job job = start_job(2, run_args(dir_ / "run", "--set iterations=3"), "agent",
                            {{"TORCHELASTIC_USE_AGENT_STORE", "True"}}, {}, agent->port());
  EXPECT_EQ(wait_job(job), (std::vector<int>{0, 0})) << output(job, 0) << output(job, 1);
  EXPECT_NE(output(job, 0).find("rendezvous:127.0.0.1:" + std::to_string(agent->port() + 1) + " (MASTER_PORT+1"),
            std::string::npos)
      << output(job, 0);
}

TEST_F(DistTrain, RanksWithOtherSettingsAreRefusedNamingTheSetting) {
  const std::string args = run_args(dir_ / "run", "--set iterations=3");
  Job job;
  job.port = test::free_port();
  for (int r = 0; r < 2; ++r) {
    job.outputs.push_back(dir_ / ("differ" + std::to_string(r) + ".log"));
    job.pids.push_back(test::start_rank(r, 2, job.port, args + (r == 1 ? " --set matrix_lr=0.05" : ""),
                                        job.outputs.back(), dir_.path()));
  }
  EXPECT_EQ(wait_job(job), (std::vector<int>{1, 1}));
  for (int r = 0; r < 2; ++r)
    EXPECT_NE(output(job, r).find("rank 1's settings differ from rank 0's: matrix_lr is 0.05 there, 0.04 on rank 0"),
              std::string::npos)
        << output(job, r);
}

TEST_F(DistTrain, ASignalStopsEveryRankAtOneStepAndTwoRanksResumeBitForBit) {
  const std::string settings = "--set iterations=30 --set val_loss_every=0 --set checkpoint_every=0";
  const Job reference = start_job(2, run_args(dir_ / "reference", settings), "reference");
  ASSERT_EQ(wait_job(reference), (std::vector<int>{0, 0})) << output(reference, 0) << output(reference, 1);

  const Job job = start_job(2, run_args(dir_ / "run", settings), "first");
  ASSERT_TRUE(test::wait_for_text(dir_ / "run" / "metrics.jsonl", "\"step\":8,"));
  ::kill(job.pids[1], SIGTERM);  // only rank 1 hears it, as when one worker is told to stop
  EXPECT_EQ(wait_job(job), (std::vector<int>{3, 3})) << output(job, 0) << output(job, 1);
  const std::string first = output(job, 0);
  const std::string stopped_at = test::last_match(first, R"(stopped by SIGTERM at step (\d+))");
  ASSERT_FALSE(stopped_at.empty()) << first;
  EXPECT_TRUE(fs::exists(dir_ / "run" / train_checkpoint_name(std::stoi(stopped_at))));
  EXPECT_FALSE(fs::exists(dir_ / "run" / "final_model.safetensors"));

  const Job resumed = start_job(2, "train --resume " + test::quoted(dir_ / "run"), "resumed");
  EXPECT_EQ(wait_job(resumed), (std::vector<int>{0, 0})) << output(resumed, 0) << output(resumed, 1);
  EXPECT_NE(output(resumed, 0).find("from step " + stopped_at + " "), std::string::npos) << output(resumed, 0);
  EXPECT_EQ(weights(dir_ / "run"), weights(dir_ / "reference"));
  EXPECT_EQ(metric(dir_ / "run", "train", "train_loss"), metric(dir_ / "reference", "train", "train_loss"));
}

TEST_F(DistTrain, ASignalDoubledByALauncherIsOneStopRequest) {
  // Ctrl-C reaches every rank from the terminal and torchrun forwards its own SIGTERM right after:
  // a second signal within 2 s must not end a rank before it reaches the checkpoint.
  const Job job = start_job(2, run_args(dir_ / "run", "--set iterations=100000 --set val_loss_every=0"), "doubled");
  ASSERT_TRUE(test::wait_for_text(dir_ / "run" / "metrics.jsonl", "\"step\":4,"));
  for (pid_t pid : job.pids) ::kill(pid, SIGINT);
  for (pid_t pid : job.pids) ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_job(job), (std::vector<int>{3, 3})) << output(job, 0) << output(job, 1);
  const std::string step = test::last_match(output(job, 0), R"(stopped by SIG[A-Z]+ at step (\d+))");
  ASSERT_FALSE(step.empty()) << output(job, 0);
  EXPECT_TRUE(fs::exists(dir_ / "run" / train_checkpoint_name(std::stoi(step))));
}

}  // namespace
}  // namespace dg
