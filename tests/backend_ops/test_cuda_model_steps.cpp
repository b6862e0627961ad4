// Whole training steps on the CUDA backend against the CPU reference, at precision fp32: small gpt,
// pr345 and DART models (DIFF V2, every pluggable block) built with identical parameters on both,
// the same batch: the loss, every loop's per-token losses, every gradient, and the parameters after
// three Adam/Muon steps.
//
// Tolerances: both backends compute in fp32 but sum in different orders (tiled attention, cuBLAS
// vs OpenBLAS, per-block reductions), so results agree to about 1e-6 relative per op, and a few
// ops deep that grows to ~1e-5. A tensor passes when ‖cuda − cpu‖ ≤ 1e-4·‖cpu‖ + 1e-6·√n: loose
// enough for summation order, far too tight for any wrong index, missing term or scale (which
// give relative errors of order 1). After three optimizer steps, Muon's orthogonalisation
// amplifies gradient differences near its step-size floor, so parameters get 1e-3.
#include <gtest/gtest.h>

#include <cmath>

#include "backend/backend_factory.h"
#include "backend_pair.h"
#include "cuda_backend.h"
#include "dart_fixtures.h"
#include "model/dart_model.h"
#include "model/model_factory.h"
#include "model_fixtures.h"
#include "train/optimizer.h"

namespace dg {
namespace {

struct TensorError {
  std::string name;
  double relative = 0.0;
};

// The worst tensor of the layout by ‖a − b‖ / (‖b‖ + floor).
::testing::AssertionResult tensors_close(const ParamLayout& layout, const std::vector<float>& cuda,
                                         const std::vector<float>& cpu, double rtol, double atol_per_sqrt_n,
                                         const std::string& what) {
  TensorError worst;
  double worst_excess = 0.0;
  for (const ParamSpec& spec : layout.specs()) {
    double diff = 0.0, norm = 0.0;
    for (int64_t i = 0; i < spec.numel(); ++i) {
      const double a = cuda[static_cast<size_t>(spec.offset + i)], b = cpu[static_cast<size_t>(spec.offset + i)];
      if (std::isnan(a) != std::isnan(b)) return ::testing::AssertionFailure() << what << " " << spec.name << ": NaN mismatch";
      diff += (a - b) * (a - b);
      norm += b * b;
    }
    const double tolerance = rtol * std::sqrt(norm) + atol_per_sqrt_n * std::sqrt(static_cast<double>(spec.numel()));
    const double excess = std::sqrt(diff) / tolerance;
    if (excess > worst_excess) worst_excess = excess, worst = {spec.name, std::sqrt(diff) / (std::sqrt(norm) + 1e-30)};
  }
  if (worst_excess <= 1.0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << worst.name << " differs by " << worst.relative
                                       << " relative (" << worst_excess << "× the tolerance)";
}

class ModelOnBoth {
 public:
  ModelOnBoth(const Config& config, int64_t rows, int64_t seq_len, Backend& cpu, Backend& cuda)
      : config_(config), rows_(rows), seq_len_(seq_len) {
    cpu_model_ = make_model(config, cpu, rows, seq_len);
    cuda_model_ = make_model(config, cuda, rows, seq_len);
    test::randomize_params(*cpu_model_, cpu, 5);
    std::vector<float> host(static_cast<size_t>(cpu_model_->layout().buffer_elements()));
    cpu.copy_to_host(host.data(), cpu_model_->params());
    cuda.copy_from_host(cuda_model_->params(), host.data());
  }
  LanguageModel& cpu() { return *cpu_model_; }
  LanguageModel& cuda() { return *cuda_model_; }

  const Config config_;
  const int64_t rows_, seq_len_;

 private:
  std::unique_ptr<LanguageModel> cpu_model_, cuda_model_;
};

std::vector<float> host_of(Backend& backend, const Tensor& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  backend.copy_to_host(out.data(), t);
  return out;
}

void check_step(const Config& config, const std::string& label) {
  SCOPED_TRACE(label);
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  const int64_t rows = 2, seq = config.get_int("train_seq_len"), vocab = config.get_int("vocab_size");
  ModelOnBoth m(config, rows, seq, pair.cpu(), pair.cuda());
  const std::vector<int32_t> x = test::random_tokens(rows * seq, vocab, 21), y = test::random_tokens(rows * seq, vocab, 22);
  const ModelBatch batch{x.data(), y.data(), rows, seq};

  // Forward in evaluation mode (no loop dropout): scored losses per token, and for DART every loop's.
  double loss[2];
  std::vector<float> tokens[2];
  for (int on_cuda = 0; on_cuda < 2; ++on_cuda) {
    LanguageModel& model = on_cuda ? m.cuda() : m.cpu();
    model.set_training(false);
    loss[on_cuda] = model.forward(batch);
    model.token_losses(tokens[on_cuda]);
  }
  EXPECT_NEAR(loss[1], loss[0], 1e-5 * std::abs(loss[0])) << "mean loss";
  for (size_t i = 0; i < tokens[0].size(); ++i) ASSERT_NEAR(tokens[1][i], tokens[0][i], 2e-5 * (1 + std::abs(tokens[0][i]))) << i;
  if (auto* cpu_dart = dynamic_cast<DartModel*>(&m.cpu())) {
    auto* cuda_dart = dynamic_cast<DartModel*>(&m.cuda());
    for (int64_t loop = 0; loop < cpu_dart->loops_run(); ++loop) {
      std::vector<float> a, b;
      cpu_dart->loop_token_losses(loop, a);
      cuda_dart->loop_token_losses(loop, b);
      for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(b[i], a[i], 2e-5 * (1 + std::abs(a[i]))) << "loop " << loop << " target " << i;
    }
  }

  // One training step's gradient (training mode: the deep-supervision loss where configured).
  for (int on_cuda = 0; on_cuda < 2; ++on_cuda) {
    LanguageModel& model = on_cuda ? m.cuda() : m.cpu();
    Backend& backend = on_cuda ? pair.cuda() : pair.cpu();
    backend.fill(model.grads(), 0.0f);
    model.set_training(false);  // the same loops on both: loop dropout draws are the backends' own
    model.forward(batch);
    model.backward(1.0f);
  }
  const ParamLayout& layout = m.cpu().layout();
  EXPECT_TRUE(tensors_close(layout, host_of(pair.cuda(), m.cuda().grads()), host_of(pair.cpu(), m.cpu().grads()), 1e-4,
                            1e-6, "gradient"));

  // Three optimizer steps (Muon with Newton–Schulz, Adam) from that gradient on, recomputing it each time.
  const OptimizerSettings settings = OptimizerSettings::from_config(config);
  Optimizer cpu_opt(layout, pair.cpu(), m.cpu().params(), m.cpu().grads(), settings);
  Optimizer cuda_opt(m.cuda().layout(), pair.cuda(), m.cuda().params(), m.cuda().grads(), settings);
  for (int step = 0; step < 3; ++step) {
    for (int on_cuda = 0; on_cuda < 2; ++on_cuda) {
      LanguageModel& model = on_cuda ? m.cuda() : m.cpu();
      Backend& backend = on_cuda ? pair.cuda() : pair.cpu();
      if (step > 0) {
        backend.fill(model.grads(), 0.0f);
        model.forward(batch);
        model.backward(1.0f);
      }
      (on_cuda ? cuda_opt : cpu_opt).step(0.8, 0.9);
    }
  }
  EXPECT_TRUE(tensors_close(layout, host_of(pair.cuda(), m.cuda().params()), host_of(pair.cpu(), m.cpu().params()), 1e-3,
                            1e-6, "parameters after 3 steps"));
}

TEST(CudaModelSteps, Gpt) { check_step(test::small_gpt_config(), "gpt"); }

TEST(CudaModelSteps, Pr345) { check_step(test::small_dart_config({"num_loops=3"}), "pr345: 3 loops, memory rows, deltas"); }

TEST(CudaModelSteps, DartDiffV2WithEveryBlock) {
  check_step(test::small_dart_config(
                 {"num_loops=3", "attention=diff_v2", "num_unique_blocks=2",
                  R"(blocks=[{"type":"tau_fusion","site":"loop_input"},{"type":"daam","site":"mlp_input","groups":4},)"
                  R"({"type":"head_gate","site":"attn_output"},{"type":"daam","site":"block_output","groups":2,"gaussians":3},)"
                  R"({"type":"tau_fusion","site":"loop_output"}])"}),
             "dart: DIFF V2, 2 unique blocks, every block type and site");
}

}  // namespace
}  // namespace dg
