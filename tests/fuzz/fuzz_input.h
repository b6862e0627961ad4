// Shared by the fuzz targets: readers that take a path get the fuzzer's bytes through one scratch
// file per process (in /dev/shm when there is one, so it stays in memory).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace dg::fuzz {

inline std::filesystem::path scratch_file(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
  return dir / ("dartgolf-fuzz-" + std::to_string(::getpid()) + "-" + name);
}

inline void write_bytes(const std::filesystem::path& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

}  // namespace dg::fuzz
