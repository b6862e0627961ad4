// The val_bpb byte-count kernel (kernels/bpb_bytes.cu) run by the emulator equals the CPU count.
#include <gtest/gtest.h>

#include "byte_lut_fixtures.h"
#include "core/rng.h"
#include "cuda_device.h"
#include "data/byte_luts.h"
#include "emu_test_util.h"

namespace {

TEST(EmuBpbBytes, EqualsTheCpuCount) {
  const int vocab = 300;
  dg::Rng rng(7);
  const dg::data::ByteLuts luts = dg::test::synthetic_byte_luts(vocab, rng);
  // 300,000 targets: 1,024 blocks of 256 threads, each thread striding over several targets.
  for (int64_t n : {1, 31, 32, 1000, 300000}) {
    const dg::test::IdPairs ids = dg::test::random_id_pairs(n, vocab, rng);
    const int64_t cpu = dg::data::count_target_bytes(luts, ids.prev.data(), ids.target.data(), n);
    for (uint64_t seed : dg::test::schedule_seeds()) {
      dg::emu::ScopedScheduleSeed scoped(seed);
      EXPECT_EQ(dg::cuda::count_target_bytes(luts, ids.prev.data(), ids.target.data(), n), cpu)
          << "n=" << n << " seed " << seed;
    }
  }
}

TEST(EmuBpbBytes, DeviceIsAvailableUnderTheEmulator) {
  std::string reason;
  EXPECT_TRUE(dg::cuda::device_available(&reason)) << reason;
}

}  // namespace
