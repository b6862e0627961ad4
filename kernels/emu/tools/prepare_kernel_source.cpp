// dg_emu_prepare SOURCE OUTPUT: writes the emulator build's version of a kernel source
// (kernels/emu/source_rewrite.h); the build runs it on every .cu and .cuh of kernels/ and tests/kernels/.
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/error.h"
#include "emu/source_rewrite.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: dg_emu_prepare SOURCE OUTPUT\n";
    return 2;
  }
  try {
    std::ifstream in(argv[1], std::ios::binary);
    DG_CHECK(in, "cannot read " << argv[1]);
    std::ostringstream text;
    text << in.rdbuf();
    const std::string prepared = dg::emu::prepare_kernel_source(text.str(), argv[1]);
    std::ofstream out(argv[2], std::ios::binary | std::ios::trunc);
    DG_CHECK(out << prepared, "cannot write " << argv[2]);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
