#include "artifact/size_accounting.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "core/error.h"

namespace dg::artifact {
namespace fs = std::filesystem;

namespace {

struct CountedFolder {
  const char* folder;
  std::vector<std::string> extensions;
  const char* excluded;  // a subfolder that is not counted, or null
};

// kernels/emu/ is the CPU emulator of the kernels: the tests' (and DARTGOLF_CUDA=EMULATE's), not
// built with -DDARTGOLF_BUILD_TESTS=OFF, so not part of what trains or evaluates a submission.
const std::array<CountedFolder, 2>& counted_folders() {
  static const std::array<CountedFolder, 2> folders{{
      {"src", {".h", ".hpp", ".cpp", ".cc"}, nullptr},
      {"kernels", {".cu", ".cuh", ".h", ".hpp", ".cpp"}, "kernels/emu/"},
  }};
  return folders;
}

std::string relative_text(const fs::path& file, const fs::path& root) { return fs::relative(file, root).generic_string(); }

}  // namespace

fs::path default_source_root() { return fs::path(DARTGOLF_SOURCE_DIR); }

std::string code_file_rule() {
  return "CMakeLists.txt + src/**/*.{h,hpp,cpp,cc} + kernels/**/*.{cu,cuh,h,hpp,cpp} but kernels/emu/";
}

std::vector<CodeFile> list_code_files(const fs::path& root) {
  std::error_code ec;
  DG_CHECK(fs::is_regular_file(root / "CMakeLists.txt", ec) && fs::is_directory(root / "src", ec),
           "source root " << root << " is not a dartgolf source tree (no CMakeLists.txt and src/ there); "
                             "give the repository with --source-root DIR");
  std::vector<CodeFile> files;
  files.push_back({"CMakeLists.txt", static_cast<int64_t>(fs::file_size(root / "CMakeLists.txt"))});
  for (const CountedFolder& counted : counted_folders()) {
    const fs::path folder = root / counted.folder;
    if (!fs::is_directory(folder, ec)) continue;
    for (const fs::directory_entry& entry : fs::recursive_directory_iterator(folder)) {
      if (!entry.is_regular_file()) continue;
      const std::string ext = entry.path().extension().string();
      if (std::find(counted.extensions.begin(), counted.extensions.end(), ext) == counted.extensions.end()) continue;
      const std::string path = relative_text(entry.path(), root);
      if (counted.excluded != nullptr && path.rfind(counted.excluded, 0) == 0) continue;
      files.push_back({path, static_cast<int64_t>(entry.file_size())});
    }
  }
  std::sort(files.begin(), files.end(), [](const CodeFile& a, const CodeFile& b) { return a.path < b.path; });
  return files;
}

int64_t total_code_bytes(const std::vector<CodeFile>& files) {
  int64_t total = 0;
  for (const CodeFile& f : files) total += f.bytes;
  return total;
}

void enforce_size_cap(const SubmissionSize& size, bool allow_oversize) {
  if (!size.over_cap() || allow_oversize) return;
  DG_THROW("submission size " << size.total() << " bytes (artifact " << size.artifact_bytes << " + code " << size.code_bytes
                              << ") is over the challenge's cap of " << kSubmissionCapBytes << " bytes by "
                              << size.total() - kSubmissionCapBytes
                              << "; shrink the model or use a stronger codec/narrower ints (artifact_codec, "
                                 "artifact_bits), or pass --allow-oversize to write it anyway");
}

}  // namespace dg::artifact
