// Prepares a kernel source (.cu/.cuh) for the emulator build. g++ ignores a section attribute on
// the static locals of template instantiations (checked with g++ 12), so static __shared__ cannot
// be found by placing it in a linker section; instead each declaration
//     __shared__ float tile[32][33];
// becomes, on the same line (line numbers and #line keep gdb and diagnostics on the original file),
//     static float tile[32][33]; [[maybe_unused]] static const bool dg_emu_shared_tile_ =
//         ::dg::emu::register_static_shared(...);
// so the emulator knows every variable and poisons it before each block. It also enforces the
// dialect: no <<<...>>> launches, no extern __shared__ (dynamic shared memory is DG_DYNAMIC_SHARED),
// one variable per __shared__ declaration, no initializer. Preprocessor lines are left alone.
#pragma once

#include <string>
#include <string_view>

namespace dg::emu {

// `path` names the file in the output's #line directive and in errors (dg::Error with file:line).
std::string prepare_kernel_source(std::string_view source, const std::string& path);

}  // namespace dg::emu
