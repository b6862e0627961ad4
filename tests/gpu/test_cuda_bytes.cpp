// The GPU byte count behind val_bpb must equal the CPU rule exactly.
#include <gtest/gtest.h>

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
  // A synthetic vocabulary with every kind of piece: boundaries, leading-space pieces, byte pieces.
  const int vocab = 300;
  dg::data::ByteLuts luts;
  luts.base_bytes.resize(vocab);
  luts.has_leading_space.resize(vocab);
  luts.is_boundary.resize(vocab);
  dg::Rng rng(7);
  for (int t = 0; t < vocab; ++t) {
    luts.is_boundary[t] = t < 4;
    luts.base_bytes[t] = t < 4 ? 0 : static_cast<int16_t>(1 + rng.below(6));
    luts.has_leading_space[t] = t >= 4 && rng.below(3) == 0;
  }
  for (int64_t n : {1, 31, 32, 1000, 123457}) {
    std::vector<int32_t> prev(n), target(n);
    for (int64_t i = 0; i < n; ++i) {
      prev[i] = static_cast<int32_t>(rng.below(vocab));
      target[i] = static_cast<int32_t>(rng.below(vocab));
    }
    const int64_t cpu = dg::data::count_target_bytes(luts, prev.data(), target.data(), n);
    EXPECT_EQ(dg::cuda::count_target_bytes(luts, prev.data(), target.data(), n), cpu) << "n=" << n;
  }
#endif
}

}  // namespace
