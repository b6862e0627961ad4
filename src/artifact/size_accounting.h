// Submission size = artifact bytes + code bytes, capped at 16,000,000 (decimal) bytes.
//
// The challenge counts the code of train_gpt.py. dartgolf's counterpart is every source file needed
// to build the binary and run `dartgolf eval --artifact`: the top-level CMakeLists.txt (configured
// with -DDARTGOLF_BUILD_TESTS=OFF, so tests/ is not needed), src/**/*.{h,hpp,cpp,cc} and
// kernels/**/*.{cu,cuh,h,hpp,cpp} except kernels/emu/ (the CPU emulator of the kernels, built only
// for tests or -DDARTGOLF_CUDA=EMULATE), counted in bytes as they are on disk. Tests, scripts, docs
// and data are not needed to evaluate and are not counted. `dartgolf pack --list-code-files` prints the set.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace dg::artifact {

inline constexpr int64_t kSubmissionCapBytes = 16'000'000;

struct CodeFile {
  std::string path;  // relative to the source root, '/'-separated
  int64_t bytes = 0;
};

// The repository this binary was built from (DARTGOLF_SOURCE_DIR).
std::filesystem::path default_source_root();
// One line describing the counted file set (printed with the list and in logs).
std::string code_file_rule();
// The counted files under `root`, sorted by path; a root without CMakeLists.txt and src/ is an error.
std::vector<CodeFile> list_code_files(const std::filesystem::path& root);
int64_t total_code_bytes(const std::vector<CodeFile>& files);

struct SubmissionSize {
  int64_t artifact_bytes = 0, code_bytes = 0;
  int64_t total() const { return artifact_bytes + code_bytes; }
  bool over_cap() const { return total() > kSubmissionCapBytes; }
};
// Throws a clear error when the total is over the cap, unless allow_oversize.
void enforce_size_cap(const SubmissionSize& size, bool allow_oversize);

}  // namespace dg::artifact
