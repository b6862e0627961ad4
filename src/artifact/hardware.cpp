#include "artifact/hardware.h"

#include <fstream>
#include <thread>

namespace dg::artifact {

namespace {
std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(colon + 1);
    const size_t first = name.find_first_not_of(" \t");
    return first == std::string::npos ? std::string() : name.substr(first);
  }
  return {};
}
}  // namespace

std::string describe_hardware(const std::string& backend_name, int threads) {
  std::string cpu = cpu_model_name();
  if (cpu.empty()) cpu = "an unidentified CPU";
  return backend_name + " backend, " + std::to_string(threads) + " thread" + (threads == 1 ? "" : "s") + " on " + cpu +
         " (" + std::to_string(std::thread::hardware_concurrency()) + " logical CPUs)";
}

}  // namespace dg::artifact
