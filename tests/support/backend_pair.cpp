#include "backend_pair.h"

#include <cmath>
#include <cstring>
#include <sstream>

#include "core/rng.h"
#include "cuda_backend.h"

namespace dg::test {

std::unique_ptr<BackendPair> BackendPair::create(Precision precision, std::string* why) {
  const CudaProvider provider = cuda::backend_provider();
  if (!provider.usable(0, why)) return nullptr;
  CudaBackendOptions options;
  options.precision = precision;
  return std::unique_ptr<BackendPair>(new BackendPair(make_cpu_backend(), provider.make(options)));
}

BackendPair::BackendPair(std::unique_ptr<Backend> cpu, std::unique_ptr<Backend> cuda)
    : cpu_(std::move(cpu)), cuda_(std::move(cuda)) {}

BackendPair::~BackendPair() {
  for (auto& [c, d] : allocations_) {
    cpu_->release(c);
    cuda_->release(d);
  }
}

TensorPair BackendPair::allocate(const std::vector<int64_t>& shape, DType dtype) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  const int64_t bytes = std::max<int64_t>(n, 1) * dtype_size(dtype);
  void* c = cpu_->allocate(bytes);
  void* d = cuda_->allocate(bytes);
  allocations_.emplace_back(c, d);
  TensorPair t;
  t.cpu.data = c;
  t.cuda.data = d;
  t.cpu.dtype = t.cuda.dtype = dtype;
  t.cpu.device = Device::CPU;
  t.cuda.device = Device::CUDA;
  t.cpu.ndim = t.cuda.ndim = static_cast<int>(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) t.cpu.shape[i] = t.cuda.shape[i] = shape[i];
  return t;
}

TensorPair BackendPair::from_host(std::vector<int64_t> shape, const std::vector<float>& values) {
  TensorPair t = allocate(shape, DType::F32);
  EXPECT_EQ(static_cast<int64_t>(values.size()), t.cpu.numel());
  cpu_->copy_from_host(t.cpu, values.data());
  cuda_->copy_from_host(t.cuda, values.data());
  return t;
}

TensorPair BackendPair::random(std::vector<int64_t> shape, uint64_t seed, float lo, float hi) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  Rng rng(seed);
  std::vector<float> values(static_cast<size_t>(n));
  for (float& v : values) v = static_cast<float>(rng.uniform(lo, hi));
  return from_host(std::move(shape), values);
}

TensorPair BackendPair::constant(std::vector<int64_t> shape, float value) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return from_host(std::move(shape), std::vector<float>(static_cast<size_t>(n), value));
}

TensorPair BackendPair::ids(std::vector<int64_t> shape, int64_t limit, uint64_t seed) {
  TensorPair t = allocate(shape, DType::I32);
  Rng rng(seed);
  std::vector<int32_t> values(static_cast<size_t>(t.cpu.numel()));
  for (int32_t& v : values) v = static_cast<int32_t>(rng.below(static_cast<uint64_t>(limit)));
  cpu_->copy_from_host(t.cpu, values.data());
  cuda_->copy_from_host(t.cuda, values.data());
  return t;
}

void BackendPair::run(const std::function<void(Backend&, bool)>& op) {
  op(*cpu_, false);
  op(*cuda_, true);
  cuda_->synchronize();
}

std::vector<float> BackendPair::cpu_values(const TensorPair& t) {
  std::vector<float> out(static_cast<size_t>(t.cpu.numel()));
  cpu_->copy_to_host(out.data(), t.cpu);
  return out;
}

std::vector<float> BackendPair::cuda_values(const TensorPair& t) {
  std::vector<float> out(static_cast<size_t>(t.cuda.numel()));
  cuda_->copy_to_host(out.data(), t.cuda);
  return out;
}

::testing::AssertionResult BackendPair::close(const TensorPair& t, double atol, double rtol) {
  const std::vector<float> ref = cpu_values(t), got = cuda_values(t);
  double worst = -1.0;
  size_t at = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const bool ref_nan = std::isnan(ref[i]), got_nan = std::isnan(got[i]);
    if (ref_nan || got_nan) {
      if (ref_nan != got_nan) {
        return ::testing::AssertionFailure() << "element " << i << ": cpu " << ref[i] << ", cuda " << got[i];
      }
      continue;
    }
    const double excess = std::abs(static_cast<double>(got[i]) - ref[i]) / (atol + rtol * std::abs(static_cast<double>(ref[i])));
    if (excess > worst) worst = excess, at = i;
  }
  if (worst <= 1.0) return ::testing::AssertionSuccess();
  std::ostringstream m;
  m.precision(9);
  m << "worst element " << at << " of " << ref.size() << ": cpu " << ref[at] << ", cuda " << got[at] << " (|diff| "
    << std::abs(static_cast<double>(got[at]) - ref[at]) << " > atol " << atol << " + rtol " << rtol << "·|cpu|, "
    << worst << "× the tolerance)";
  return ::testing::AssertionFailure() << m.str();
}

::testing::AssertionResult BackendPair::identical(const TensorPair& t) {
  const std::vector<float> ref = cpu_values(t), got = cuda_values(t);
  for (size_t i = 0; i < ref.size(); ++i)
    if (std::memcmp(&ref[i], &got[i], sizeof(float)) != 0)
      return ::testing::AssertionFailure() << "element " << i << ": cpu " << ref[i] << ", cuda " << got[i];
  return ::testing::AssertionSuccess();
}

}  // namespace dg::test
