// A one-line description of the machine a run used, for checkpoints and submission READMEs.
#pragma once

#include <string>

namespace dg::artifact {

// e.g. "CPU backend, 2 threads on Intel(R) Xeon(R) ... (8 logical CPUs)".
std::string describe_hardware(const std::string& backend_name, int threads);

}  // namespace dg::artifact
