#include "train/gptq_calibration.h"

#include <cblas.h>

#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "data/token_loader.h"
#include "model/model_factory.h"

namespace dg {
namespace fs = std::filesystem;

namespace {

// A CPU backend that adds xᵀx to a watched weight's Hessian whenever a forward matmul computes
// out = x · Wᵀ with W that weight. c_q, c_k and c_v read the same x one after the other: the
// product of the last x is kept (with a copy of x to be sure it is the same data) and reused.
class HessianObservingBackend : public CpuBackend {
 public:
  void watch(const std::string& name, const float* weight, int64_t rows, int64_t cols) {
    watched_[weight] = Watched{name, rows, cols, std::vector<double>(static_cast<size_t>(cols * cols), 0.0)};
  }

  void matmul(const Tensor& c, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, float alpha,
              float beta) override {
    CpuBackend::matmul(c, a, trans_a, b, trans_b, alpha, beta);
    if (trans_a || !trans_b || a.dtype != DType::F32) return;
    const auto it = watched_.find(static_cast<const float*>(b.data));
    if (it == watched_.end() || b.rows() != it->second.rows || b.dim(-1) != it->second.cols) return;
    add_gram(it->second, static_cast<const float*>(a.data), a.rows());
  }

  quant::HessianMap take() {
    quant::HessianMap out;
    for (auto& [pointer, w] : watched_) {
      const int64_t n = w.cols;
      for (int64_t i = 0; i < n; ++i)  // the products filled the upper triangle
        for (int64_t j = 0; j < i; ++j) w.hessian[static_cast<size_t>(i * n + j)] = w.hessian[static_cast<size_t>(j * n + i)];
      bool seen = false;
      for (int64_t i = 0; i < n && !seen; ++i) seen = w.hessian[static_cast<size_t>(i * n + i)] != 0.0;
      if (seen) out[w.name] = std::move(w.hessian);
    }
    return out;
  }

 private:
  struct Watched {
    std::string name;
    int64_t rows = 0, cols = 0;
    std::vector<double> hessian;
  };

  void add_gram(Watched& w, const float* x, int64_t m) {
    const int64_t k = w.cols;
    const size_t x_size = static_cast<size_t>(m * k);
    const bool same = last_x_.size() == x_size && last_k_ == k && std::memcmp(last_x_.data(), x, x_size * 4) == 0;
    if (!same) {
      last_x_.assign(x, x + x_size);
      last_k_ = k;
      gram_.assign(static_cast<size_t>(k * k), 0.0f);
      cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(k), static_cast<int>(m), 1.0f, x,
                  static_cast<int>(k), 0.0f, gram_.data(), static_cast<int>(k));
    }
    for (int64_t i = 0; i < k; ++i)
      for (int64_t j = i; j < k; ++j) w.hessian[static_cast<size_t>(i * k + j)] += gram_[static_cast<size_t>(i * k + j)];
  }

  std::map<const float*, Watched> watched_;
  std::vector<float> last_x_, gram_;
  int64_t last_k_ = 0;
};

}  // namespace

std::string GptqCalibration::log_line() const {
  return "gptq_calibration tokens:" + std::to_string(tokens) + " batches:" + std::to_string(batches) +
         " hessians:" + std::to_string(hessians.size()) + " time:" + std::to_string(static_cast<int64_t>(elapsed_ms)) +
         "ms";
}

GptqCalibration calibrate_gptq(const Config& config, const float* host_params, const fs::path& data_path) {
  const auto t0 = std::chrono::steady_clock::now();
  const quant::QuantPolicy policy = quant::QuantPolicy::from_config(config);
  const int64_t seq_len = config.get_int("train_seq_len");
  const int64_t wanted = config.get_int("gptq_calibration_tokens");
  DG_CHECK(wanted >= seq_len, "gptq_calibration_tokens=" << wanted << " must be at least one sequence (train_seq_len="
                                                         << seq_len << ")");
  const int64_t accum = config.get_int("grad_accum_steps") > 0 ? config.get_int("grad_accum_steps") : 8;
  const int64_t rows = std::max<int64_t>(1, std::min(config.get_int("train_batch_tokens") / accum / seq_len, wanted / seq_len));

  HessianObservingBackend backend;
  std::unique_ptr<LanguageModel> model = make_model(config, backend, rows, seq_len);
  backend.copy_from_host(model->params(), host_params);
  model->set_training(false);
  const auto* base = static_cast<const float*>(model->params().data);
  for (const ParamSpec& spec : model->layout().specs())
    if (quant::choose_encoding(spec.name, spec.shape, policy) == quant::Encoding::IntPerRow)
      backend.watch(spec.name, base + spec.offset, spec.shape[0], spec.shape[1]);

  // Training tokens only: the validation split is what the artifact is scored on.
  data::TokenStream stream((data_path / "fineweb_train_*.bin").string(), config.get_int("vocab_size"));
  GptqCalibration result;
  std::vector<uint16_t> span(static_cast<size_t>(rows * seq_len + 1));
  std::vector<int32_t> inputs(static_cast<size_t>(rows * seq_len)), targets(inputs.size());
  while (result.tokens < wanted) {
    stream.take(static_cast<int64_t>(span.size()), span.data());
    for (size_t i = 0; i < inputs.size(); ++i) {
      inputs[i] = span[i];
      targets[i] = span[i + 1];
    }
    model->forward(ModelBatch{inputs.data(), targets.data(), rows, seq_len});
    result.tokens += rows * seq_len;
    ++result.batches;
  }
  result.hessians = backend.take();
  result.elapsed_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace dg
