// ptx_probe_dump_emu FILE: runs the ptx probe suite under the emulator and writes every output
// ("name count hex...") for test_ptx_wrappers_gpu to compare with the hardware's.
#include <cstdio>
#include <fstream>

#include "ptx_probe_suite.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: ptx_probe_dump_emu OUTPUT_FILE\n");
    return 2;
  }
  std::ofstream out(argv[1]);
  for (const dg::test::ProbeOutput& probe : dg::test::run_probe_suite()) {
    out << probe.name << " " << probe.bits.size();
    for (uint32_t bits : probe.bits) out << " " << std::hex << bits << std::dec;
    out << "\n";
  }
  return out ? 0 : 1;
}
