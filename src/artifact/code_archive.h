// The code bytes a submission counts: ONE compressed archive (a ustar tar) of exactly the files the
// submission program is built from (artifact/code_closure.h), in the standard container of each
// compressor — .tar.gz (zlib level 9), .tar.xz (preset 9 extreme), .tar.zst (level 22), .tar.br
// (brotli quality 11) — keeping the smallest. It unpacks with `tar` (plus `zstd -d` or
// `brotli -d` for those two) and builds with `cmake -S . -B build && cmake --build build`, which
// makes exactly the submission program (the CMakeLists.txt builds only it when its other sources
// are absent). That is the counterpart of the challenge's records, which count their script in
// compressed, self-extracting form. C++ and CUDA sources go in without their comments
// (artifact/source_minifier.h): the repository keeps the commented code, the count keeps the bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "artifact/code_closure.h"

namespace dg::artifact {

struct CodeArchive {
  std::string format;     // "gzip", "xz", "zstd" or "brotli": the smallest
  std::string file_name;  // "code.tar.xz", ...
  std::string bytes;      // the archive: what counts
  int64_t tar_bytes = 0;     // the uncompressed tar
  int64_t source_bytes = 0;  // the files' own bytes
  int64_t archived_source_bytes = 0;  // ... as archived: the C++ and CUDA sources without comments
  std::vector<CodeFile> files;
  int64_t size() const { return static_cast<int64_t>(bytes.size()); }
};

// Every format's archive of `files` (read under `root`), smallest first.
std::vector<CodeArchive> code_archives(const std::filesystem::path& root, const std::vector<CodeFile>& files);
// The smallest one, of the closure computed from `root` and `build_dir`.
CodeArchive build_code_archive(const std::filesystem::path& root, const std::filesystem::path& build_dir);

// "Code size: N bytes (code.tar.xz: F files, S bytes of source; ...)".
std::string code_size_line(const CodeArchive& archive);

}  // namespace dg::artifact
