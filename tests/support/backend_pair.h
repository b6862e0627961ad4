// The cross-backend op tests' harness (the pattern of ggml's test-backend-ops): the CPU reference
// backend and the CUDA backend side by side, every tensor created on both with the same contents,
// an op run on each, and the results compared element by element with a stated tolerance.
// The tests in tests/backend_ops/ run against the emulated CUDA backend (label emu) and against a
// real GPU where there is one (label gpu, skipping visibly otherwise).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/backend_factory.h"

namespace dg::test {

// One tensor held by both backends.
struct TensorPair {
  Tensor cpu, cuda;
  const Tensor& on(bool on_cuda) const { return on_cuda ? cuda : cpu; }
  // A view of both with another shape (same element count), e.g. [B, T, H, hd] of a [rows, D] pair.
  TensorPair view(std::initializer_list<int64_t> dims) const { return {cpu.view(dims), cuda.view(dims)}; }
  TensorPair slice(int64_t begin, int64_t end) const { return {cpu.slice(begin, end), cuda.slice(begin, end)}; }
};

class BackendPair {
 public:
  // The CUDA backend of the linked implementation on device 0, or GTEST_SKIP-worthy reason in `why`.
  static std::unique_ptr<BackendPair> create(Precision precision, std::string* why);
  ~BackendPair();

  Backend& cpu() { return *cpu_; }
  Backend& cuda() { return *cuda_; }

  // Uniform in [lo, hi) from `seed`, identical on both backends.
  TensorPair random(std::vector<int64_t> shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f);
  TensorPair constant(std::vector<int64_t> shape, float value);
  TensorPair zeros(std::vector<int64_t> shape) { return constant(std::move(shape), 0.0f); }
  // int32 ids in [0, limit).
  TensorPair ids(std::vector<int64_t> shape, int64_t limit, uint64_t seed);
  TensorPair from_host(std::vector<int64_t> shape, const std::vector<float>& values);

  // Runs `op` on the CPU backend with the cpu tensors, then on the CUDA backend with the cuda ones.
  void run(const std::function<void(Backend& backend, bool on_cuda)>& op);

  std::vector<float> cpu_values(const TensorPair& t);
  std::vector<float> cuda_values(const TensorPair& t);

  // Every element within |cuda − cpu| ≤ atol + rtol·|cpu| (NaN only where both are NaN); the
  // failure names the worst element, both values and the tolerance.
  ::testing::AssertionResult close(const TensorPair& t, double atol, double rtol);
  // Bit-for-bit equal contents.
  ::testing::AssertionResult identical(const TensorPair& t);

 private:
  BackendPair(std::unique_ptr<Backend> cpu, std::unique_ptr<Backend> cuda);
  TensorPair allocate(const std::vector<int64_t>& shape, DType dtype);

  std::unique_ptr<Backend> cpu_, cuda_;
  std::vector<std::pair<void*, void*>> allocations_;  // (cpu, cuda), released at the end
};

// In a test body: the pair, or a visible skip when this process has no usable CUDA backend.
#define DG_BACKEND_PAIR_OR_SKIP(var, precision)                               \
  std::string var##_why;                                                      \
  auto var##_owner = ::dg::test::BackendPair::create(precision, &var##_why);  \
  if (!var##_owner) GTEST_SKIP() << var##_why;                                \
  ::dg::test::BackendPair& var = *var##_owner

}  // namespace dg::test
