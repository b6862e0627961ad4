// The dg::ptx wrappers (mma.sync, ldmatrix) on a real GPU: the probe kernels must give what the
// PTX ISA says, and the same as the emulator gives for the same inputs (the emulator's run comes
// from ptx_probe_dump_emu). Skips visibly without a GPU; cp.async's poisoning is emulator-only.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "ptx_probe_suite.h"
#include "test_support.h"
#ifdef DARTGOLF_WITH_CUDA
#include <cuda_runtime.h>

#include "cuda_device.h"
#endif

namespace {

float as_float(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

void expect_isa_results(const std::vector<dg::test::ProbeOutput>& outputs) {
  const std::vector<uint16_t> tile = dg::test::ldmatrix_tile();
  for (const dg::test::ProbeOutput& probe : outputs) {
    if (probe.name.rfind("ldmatrix_x", 0) == 0) {
      const int matrices = probe.name[10] - '0';
      const bool transposed = probe.name.find("trans") != std::string::npos;
      for (int lane = 0; lane < 32; ++lane)
        for (int m = 0; m < matrices; ++m)
          EXPECT_EQ(probe.bits[lane * matrices + m], dg::test::ldmatrix_expected(tile, m, lane, transposed))
              << probe.name << " lane " << lane << " matrix " << m;
    } else {
      const uint64_t seed = static_cast<uint64_t>(probe.name.back() - '0');
      const std::vector<double> reference = dg::test::mma_reference(dg::test::mma_inputs(seed));
      for (int i = 0; i < 128; ++i)
        EXPECT_NEAR(as_float(probe.bits[i]), reference[i], 1e-5 * (std::fabs(reference[i]) + 1.0)) << probe.name << " " << i;
    }
  }
}

TEST(PtxWrappersGpu, MatchTheIsaAndTheEmulator) {
#ifndef DARTGOLF_WITH_CUDA
  GTEST_SKIP() << "built without CUDA (DARTGOLF_CUDA=OFF or no nvcc)";
#else
  std::string reason;
  if (!dg::cuda::device_available(&reason)) GTEST_SKIP() << reason;
  cudaDeviceProp prop{};
  ASSERT_EQ(cudaGetDeviceProperties(&prop, 0), cudaSuccess);
  if (prop.major < 8) GTEST_SKIP() << "mma.sync bf16, ldmatrix and cp.async need sm_80; this GPU is sm_" << prop.major << prop.minor;
  const std::vector<dg::test::ProbeOutput> device = dg::test::run_probe_suite();
  expect_isa_results(device);
#ifdef DG_PTX_PROBE_EMU
  dg::test::TempDir dir;
  const auto dump = dir / "emulated.txt";
  // The device bundle (scripts/device_bundle.sh) carries the emulated probe runner elsewhere.
  const char* moved = std::getenv("DG_PTX_PROBE_EMU");
  const std::string probe_runner = moved != nullptr && *moved != '\0' ? moved : DG_PTX_PROBE_EMU;
  const dg::test::CommandResult run = dg::test::run_command(probe_runner + " " + dg::test::quoted(dump));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  std::map<std::string, std::vector<uint32_t>> emulated;
  std::ifstream in(dump);
  std::string name;
  size_t count = 0;
  while (in >> name >> count) {
    std::vector<uint32_t>& bits = emulated[name];
    for (size_t i = 0; i < count; ++i) in >> std::hex >> bits.emplace_back() >> std::dec;
  }
  for (const dg::test::ProbeOutput& probe : device) {
    ASSERT_EQ(emulated.count(probe.name), 1u) << probe.name << " missing from the emulator's dump";
    const std::vector<uint32_t>& emu = emulated[probe.name];
    ASSERT_EQ(emu.size(), probe.bits.size()) << probe.name;
    for (size_t i = 0; i < emu.size(); ++i) {
      if (probe.exact)
        EXPECT_EQ(probe.bits[i], emu[i]) << probe.name << " " << i << ": GPU vs emulator";
      else
        EXPECT_NEAR(as_float(probe.bits[i]), as_float(emu[i]), 1e-5 * (std::fabs(as_float(emu[i])) + 1.0))
            << probe.name << " " << i << ": GPU vs emulator";
    }
  }
#elif defined(DARTGOLF_CUDA_EMULATED)
  std::cout << "[ INFO ] DARTGOLF_CUDA=EMULATE: the probes ran under the emulator, checked against the PTX ISA only\n";
#else
  std::cout << "[ INFO ] built without the emulator (no ptx_probe_dump_emu): checked against the PTX ISA only\n";
#endif
#endif
}

}  // namespace
