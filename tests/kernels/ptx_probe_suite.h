// The fixed set of ptx probe runs that the GPU test compares between the hardware and the
// emulator: every output as 32-bit patterns, by name.
#pragma once

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "ptx_probe_inputs.h"
#include "ptx_probes.h"

namespace dg::test {

struct ProbeOutput {
  std::string name;
  std::vector<uint32_t> bits;
  bool exact;  // data movement (ldmatrix) must match bit for bit; products to fp32 accuracy
};

inline std::vector<uint32_t> float_bits(const std::vector<float>& values) {
  std::vector<uint32_t> bits(values.size());
  std::memcpy(bits.data(), values.data(), values.size() * sizeof(float));
  return bits;
}

inline std::vector<ProbeOutput> run_probe_suite() {
  std::vector<ProbeOutput> outputs;
  for (uint64_t seed : {1, 2}) {
    const MmaInputs in = mma_inputs(seed);
    outputs.push_back({"mma_isa_fragments_" + std::to_string(seed),
                       float_bits(mma_from_isa_fragments(in.a, in.b_nk, in.c)), false});
    outputs.push_back({"mma_ldmatrix_b_nk_" + std::to_string(seed),
                       float_bits(mma_from_ldmatrix(in.a, in.b_nk, false, in.c)), false});
    outputs.push_back({"mma_ldmatrix_b_kn_" + std::to_string(seed),
                       float_bits(mma_from_ldmatrix(in.a, in.b_kn, true, in.c)), false});
  }
  const std::vector<uint16_t> tile = ldmatrix_tile();
  for (int matrices : {1, 2, 4})
    for (bool transposed : {false, true})
      outputs.push_back({"ldmatrix_x" + std::to_string(matrices) + (transposed ? "_trans" : ""),
                         ldmatrix_registers(tile, matrices, transposed), true});
  return outputs;
}

}  // namespace dg::test
