// Whole CLI runs on the CUDA code path (emulated in CI, real on a GPU): `train --device cuda
// --set precision=fp32` logs the same losses as `--device cpu` within a stated tolerance, and the
// checkpoints cross devices: one trained on CUDA evaluates on the CPU to the same score and the
// other way round.
#include <gtest/gtest.h>

#include <signal.h>

#include <cmath>
#include <map>
#include <regex>

#include "backend_pair.h"
#include "cli_fixtures.h"
#include "cuda_backend.h"
#include "test_support.h"
#include "train/checkpoint.h"

namespace dg {
namespace {

test::CommandResult run_cuda_dartgolf(const std::string& args) {
  return test::run_command("'" + std::string(DG_CUDA_BINARY) + "' " + args);
}

std::vector<double> train_losses(const std::string& log) {
  std::vector<double> out;
  const std::regex re(R"(step:\d+/\d+ train_loss:([0-9.]+))");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator(); ++it)
    out.push_back(std::stod((*it)[1]));
  return out;
}

class CudaCliRun : public test::SmallRunTest {
 protected:
  void SetUp() override {
    test::SmallRunTest::SetUp();
    if (IsSkipped()) return;
    std::string why;
    if (!cuda::backend_provider().usable(0, &why)) GTEST_SKIP() << why;
  }
};

// 20 steps of the small gpt. Tolerance: the two backends sum in different orders (1e-6 relative
// per op); through 20 steps of Muon that grows, but a wrong kernel moves the loss by far more than
// 2e-3 within a step or two.
TEST_F(CudaCliRun, TrainLogsTheCpuLossesAndCheckpointsCrossDevices) {
  const std::string steps = "--set iterations=20 --set train_log_every=1 --set val_loss_every=10 ";
  const auto cpu = run_cuda_dartgolf(small_run_in(dir_ / "cpu", steps + "--device cpu"));
  ASSERT_EQ(cpu.exit_code, 0) << cpu.output;
  const auto cuda = run_cuda_dartgolf(small_run_in(dir_ / "cuda", steps + "--device cuda --set precision=fp32"));
  ASSERT_EQ(cuda.exit_code, 0) << cuda.output;
  EXPECT_NE(cuda.output.find("device:cuda:0"), std::string::npos) << cuda.output;
  EXPECT_NE(cuda.output.find("precision fp32"), std::string::npos);
  const std::vector<double> a = train_losses(cpu.output), b = train_losses(cuda.output);
  ASSERT_EQ(a.size(), 20u) << cpu.output;
  ASSERT_EQ(b.size(), 20u) << cuda.output;
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(b[i], a[i], 2e-3) << "step " << i + 1;

  // The CUDA run's checkpoint scored on the CPU, and the CPU run's on CUDA: same val_bpb as the run
  // that wrote it printed (to the 4th decimal: different summation order in evaluation).
  const std::string bpb = "final_val_exact val_loss:[0-9.]+ val_bpb:([0-9.]+)";
  const std::string scored = "final_eval_exact val_loss:[0-9.]+ val_bpb:([0-9.]+)";
  const auto on_cpu = test::run_dartgolf("eval --device cpu --checkpoint " + test::quoted(dir_ / "cuda/final_model.safetensors"));
  ASSERT_EQ(on_cpu.exit_code, 0) << on_cpu.output;
  EXPECT_NEAR(std::stod(test::last_match(on_cpu.output, scored)), std::stod(test::last_match(cuda.output, bpb)), 2e-4);
  const auto on_cuda = run_cuda_dartgolf("eval --device cuda --set precision=fp32 --checkpoint " +
                                         test::quoted(dir_ / "cpu/final_model.safetensors"));
  ASSERT_EQ(on_cuda.exit_code, 0) << on_cuda.output;
  EXPECT_NEAR(std::stod(test::last_match(on_cuda.output, scored)), std::stod(test::last_match(cpu.output, bpb)), 2e-4);
}

// Exact resume on the CUDA code path at fp32: a run killed (SIGKILL) after a checkpoint and resumed
// ends with the weights of the run never killed, bit for bit, and logs the same losses.
TEST_F(CudaCliRun, KilledAndResumedEndsBitIdentical) {
  const std::string args = "--device cuda --set precision=fp32 --set iterations=8 --set train_log_every=1 "
                           "--set val_loss_every=0 --set checkpoint_every=2 --set checkpoint_every_seconds=0 ";
  const auto reference = run_cuda_dartgolf(small_run_in(dir_ / "reference", args));
  ASSERT_EQ(reference.exit_code, 0) << reference.output;
  const std::filesystem::path dir = dir_ / "killed";
  const pid_t pid = test::start_program(DG_CUDA_BINARY, small_run_in(dir, args), dir_ / "first.log");
  ASSERT_TRUE(test::wait_for_text(dir / "metrics.jsonl", "\"step\":5,", 600.0)) << test::read_text(dir_ / "first.log");
  ::kill(pid, SIGKILL);
  ASSERT_EQ(test::wait_for_exit(pid), 128 + SIGKILL);
  const auto resumed = run_cuda_dartgolf("train --resume " + test::quoted(dir));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resume: continuing run"), std::string::npos) << resumed.output;
  EXPECT_NE(resumed.output.find("device:cuda:0"), std::string::npos) << resumed.output;
  auto weights = [](const std::filesystem::path& run) {
    std::map<std::string, std::vector<float>> out;
    for (const auto& [name, tensor] : load_checkpoint(run / "final_model.safetensors").tensors) out[name] = tensor.second;
    return out;
  };
  EXPECT_EQ(weights(dir), weights(dir_ / "reference"));
  // Every step's loss, the killed run's steps overwritten by the resumed run's where both logged one.
  std::map<int, std::string> got, expected;
  const std::regex re(R"(step:(\d+)/8 (train_loss:[0-9.]+))");
  auto collect = [&](const std::string& log, std::map<int, std::string>& into) {
    for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator(); ++it)
      into[std::stoi((*it)[1])] = (*it)[2];
  };
  collect(reference.output, expected);
  collect(test::read_text(dir_ / "first.log"), got);
  collect(resumed.output, got);
  ASSERT_EQ(expected.size(), 8u) << reference.output;
  EXPECT_EQ(got, expected);
}

TEST_F(CudaCliRun, DeviceChoicesAndErrors) {
  const auto bad = run_cuda_dartgolf("bench --device tpu --steps 1");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;  // a usage error, listing the choices
  EXPECT_NE(bad.output.find("auto"), std::string::npos);
  const auto bf16_cpu = run_cuda_dartgolf("bench --device cpu --set precision=bf16 --steps 1");
  EXPECT_EQ(bf16_cpu.exit_code, 1);
  EXPECT_NE(bf16_cpu.output.find("precision=bf16 needs"), std::string::npos) << bf16_cpu.output;
  const auto plain = test::run_dartgolf("bench --device cpu --steps 1 --set model_dim=32 --set num_layers=1");
  EXPECT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_NE(plain.output.find("device:cpu ("), std::string::npos) << plain.output;
}

}  // namespace
}  // namespace dg
