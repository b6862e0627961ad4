// A data-parallel `dartgolf train` job as several processes (torchrun's environment set by the
// test), over SmallRunTest's random shards; its weights, step losses and outputs read back.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_fixtures.h"
#include "dist_fixtures.h"
#include "test_support.h"
#include "train/checkpoint.h"
#include "train/train_checkpoint.h"

namespace dg::test {

class DistRunTest : public SmallRunTest {
 protected:
  struct Job {
    std::vector<pid_t> pids;
    std::vector<std::filesystem::path> outputs;
    int port = 0;
  };

  // Starts `ranks` processes of `args`, each in `cwds[r]` (default: the test's folder), output to
  // dir_/<name>.rank<r>.log.
  Job start_job(int ranks, const std::string& args, const std::string& name,
                const std::map<std::string, std::string>& env = {}, std::vector<std::filesystem::path> cwds = {},
                int port = 0) {
    Job job;
    job.port = port != 0 ? port : free_port();
    for (int r = 0; r < ranks; ++r) {
      job.outputs.push_back(dir_ / (name + ".rank" + std::to_string(r) + ".log"));
      const std::filesystem::path cwd = cwds.empty() ? dir_.path() : cwds[static_cast<size_t>(r)];
      job.pids.push_back(start_rank(r, ranks, job.port, args, job.outputs.back(), cwd, env));
    }
    return job;
  }
  static std::vector<int> wait_job(const Job& job) {
    std::vector<int> codes;
    for (pid_t pid : job.pids) codes.push_back(wait_for_exit(pid));
    return codes;
  }
  static std::string output(const Job& job, int rank) { return read_text(job.outputs[static_cast<size_t>(rank)]); }

  // Settings of a short run with a step line and metrics record per step.
  std::string run_args(const std::filesystem::path& out, const std::string& extra) const {
    return small_run_in(out, "--set iterations=24 --set train_log_every=1 --set val_loss_every=12 " + extra);
  }

  static std::map<std::string, std::vector<float>> weights(const std::filesystem::path& run_dir) {
    const LoadedCheckpoint c = load_checkpoint(run_dir / "final_model.safetensors");
    std::map<std::string, std::vector<float>> out;
    for (const auto& [name, tensor] : c.tensors) out[name] = tensor.second;
    return out;
  }
  // step -> train_loss, and step -> val_loss, from a run folder's metrics.jsonl.
  static std::map<int64_t, double> metric(const std::filesystem::path& run_dir, const std::string& event,
                                          const std::string& key) {
    std::map<int64_t, double> values;
    std::istringstream lines(read_text(run_dir / "metrics.jsonl"));
    for (std::string line; std::getline(lines, line);) {
      const nlohmann::json record = nlohmann::json::parse(line);
      if (record.value("event", "") == event) values[record.at("step").get<int64_t>()] = record.at(key).get<double>();
    }
    return values;
  }
};

// Jobs started by a launcher, and the same job of 2 ranks started by hand for them to match.
class LauncherTest : public DistRunTest {
 protected:
  // Trains dir_/by_hand with `settings_`.
  void train_by_hand() {
    const Job job = start_job(2, run_args(dir_ / "by_hand", settings_), "by_hand");
    ASSERT_EQ(wait_job(job), (std::vector<int>{0, 0})) << output(job, 0) << output(job, 1);
  }
  // Starts a launcher command line (shell syntax) in the test folder, output to `log`.
  static pid_t start_shell(const std::string& command, const std::filesystem::path& log) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      const std::string line = "exec " + command + " >" + quoted(log) + " 2>&1";
      ::execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return pid;
  }
  std::string launch_sh() const { return quoted(repo_root() / "scripts" / "launch.sh"); }
  std::string dartgolf() const { return quoted(DG_BINARY); }
  std::string settings_ = "--set iterations=8 --set val_loss_every=4";
};

}  // namespace dg::test
