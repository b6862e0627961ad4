// The GPU byte count behind val_bpb must equal the CPU rule exactly.
#include <gtest/gtest.h>

#include "byte_lut_fixtures.h"
#include "core/rng.h"
#include "data/byte_luts.h"
#ifdef DARTGOLF_WITH_CUDA
#include "cuda_device.h"
#endif

namespace {

TEST(CudaBytes, MatchesCpuCountOnRandomTokens) {
#ifndef DARTGOLF_WITH_CUDA
  GTEST_SKIP() << "built without CUDA (DARTGOLF_CUDA=OFF or no nvcc)";
#else
  std::string reason;
  if (!dg::cuda::device_available(&reason)) GTEST_SKIP() << reason;
  const int vocab = 300;
  dg::Rng rng(7);
  const dg::data::ByteLuts luts = dg::test::synthetic_byte_luts(vocab, rng);
  for (int64_t n : {1, 31, 32, 1000, 123457}) {
    const dg::test::IdPairs ids = dg::test::random_id_pairs(n, vocab, rng);
    const int64_t cpu = dg::data::count_target_bytes(luts, ids.prev.data(), ids.target.data(), n);
    EXPECT_EQ(dg::cuda::count_target_bytes(luts, ids.prev.data(), ids.target.data(), n), cpu) << "n=" << n;
  }
#endif
}

}  // namespace
