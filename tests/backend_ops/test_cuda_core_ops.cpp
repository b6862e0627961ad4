// The CUDA backend's core against the CPU reference: zero-filled allocations, copies, fill, and
// matmul over every transpose combination, odd sizes, alpha/beta, in fp32 (tight) and bf16
// (train_gpt.py's autocast: bf16 operands, fp32 accumulation, a fresh product rounded to bf16).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "backend_pair.h"
#include "core/error.h"

namespace dg {
namespace {

TEST(CudaCoreOps, AllocationsAreZeroAndCopiesRoundTrip) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  const test::TensorPair zero = pair.zeros({3, 5});
  void* raw = pair.cuda().allocate(1000);
  std::vector<uint8_t> bytes(1000, 0xAB);
  pair.cuda().copy_to_host(bytes.data(), Tensor(raw, DType::F32, Device::CUDA, {250}));
  for (uint8_t b : bytes) ASSERT_EQ(b, 0);
  pair.cuda().release(raw);

  const test::TensorPair x = pair.random({4, 33}, 7);
  const test::TensorPair y = pair.zeros({4, 33});
  pair.run([&](Backend& b, bool cuda) { b.copy(y.on(cuda), x.on(cuda)); });
  EXPECT_TRUE(pair.identical(y));
  pair.run([&](Backend& b, bool cuda) { b.fill(y.on(cuda).slice(1, 3), -2.5f); });
  EXPECT_TRUE(pair.identical(y));
  EXPECT_EQ(pair.cuda_values(y)[33], -2.5f);
  EXPECT_TRUE(pair.identical(zero));
}

TEST(CudaCoreOps, MatmulFp32EveryTransposeAndAccumulate) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  const int64_t m = 37, n = 19, k = 53;  // odd sizes: no tile divides them
  uint64_t seed = 1;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      for (float beta : {0.0f, 1.0f, 0.5f}) {
        SCOPED_TRACE(std::string("trans_a=") + (ta ? "1" : "0") + " trans_b=" + (tb ? "1" : "0") +
                     " beta=" + std::to_string(beta));
        const test::TensorPair a = pair.random(ta ? std::vector<int64_t>{k, m} : std::vector<int64_t>{m, k}, seed++);
        const test::TensorPair b = pair.random(tb ? std::vector<int64_t>{n, k} : std::vector<int64_t>{k, n}, seed++);
        const test::TensorPair c = pair.random({m, n}, seed++);
        pair.run([&](Backend& be, bool cuda) { be.matmul(c.on(cuda), a.on(cuda), ta, b.on(cuda), tb, 0.75f, beta); });
        // fp32 with fp32 accumulation in another order: a few ulp of the sum of |terms| (≤ k·1).
        EXPECT_TRUE(pair.close(c, 2e-5, 2e-5));
      }
    }
  }
}

TEST(CudaCoreOps, MatmulBf16RoundsOperandsAndFreshProducts) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Bf16);
  const int64_t m = 16, n = 24, k = 64;
  const test::TensorPair a = pair.random({m, k}, 11), b = pair.random({n, k}, 12), c = pair.zeros({m, n});
  pair.run([&](Backend& be, bool cuda) { be.matmul(c.on(cuda), a.on(cuda), false, b.on(cuda), true, 1.0f, 0.0f); });
  // bf16 operands (8 significant bits) against the fp32 reference: each product term is off by up
  // to 2·2^-8 relative, summed over k terms of size ≤ 1: within 0.03·√k, and every output is a bf16 value.
  EXPECT_TRUE(pair.close(c, 0.03 * std::sqrt(static_cast<double>(k)), 0.0));
  for (float v : pair.cuda_values(c)) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    ASSERT_EQ(bits & 0xFFFFu, 0u) << v << " is not a bf16 value";
  }
}

TEST(CudaCoreOps, BadArgumentsAreTheSameErrors) {
  DG_BACKEND_PAIR_OR_SKIP(pair, Precision::Fp32);
  const test::TensorPair a = pair.random({4, 5}, 1), b = pair.random({6, 7}, 2), c = pair.zeros({4, 7});
  for (bool cuda : {false, true}) {
    Backend& be = cuda ? pair.cuda() : pair.cpu();
    try {
      be.matmul(c.on(cuda), a.on(cuda), false, b.on(cuda), false, 1.0f, 0.0f);
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("matmul: inner dimensions differ"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(pair.cuda().fill(a.cpu, 1.0f), Error);  // a CPU tensor given to the CUDA backend
}

}  // namespace
}  // namespace dg
