// Which source files the code bytes count: exactly those needed to build `dartgolf_submission`,
// the program that trains and evaluates a submitted model (src/cli/submission_main.cpp: the
// `train` and `eval` subcommands only). The set is computed, never kept by hand:
//  1. the object files its link pulled in — the GNU linker's map (`-Map`, written by the build as
//     <build>/dartgolf_submission.map): the executable's own objects ("LOAD" lines) and every
//     member of the project's static libraries that the link took ("Archive member included");
//  2. each object's source file, found by its path (CMake names objects after their sources);
//  3. every project header those sources include, transitively: `#include "..."` resolved as the
//     compiler resolves it (the including file's folder, then src/, then kernels/; angle-bracket
//     includes are system headers). An include inside an #if counts whether or not it is taken,
//     so the set errs on the side of counting more, except under `#ifdef DARTGOLF_CUDA_EMULATED`:
//     the counted program is the nvcc build, where only the tests' CPU emulator defines it;
//  4. the top-level CMakeLists.txt, which rebuilds exactly that program from exactly these files.
// Tests, scripts, docs, prepare/tokenizer training, inspect, plot and bench are not linked
// into the program, so they are not counted. Adding a folder (src/dist/, kernels/...) changes the
// set by itself as soon as the program links code from it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace dg::artifact {

struct CodeFile {
  std::string path;  // relative to the source root, '/'-separated
  int64_t bytes = 0;
};

inline constexpr const char* kSubmissionTarget = "dartgolf_submission";

// The repository and build folder this binary was built from (DARTGOLF_SOURCE_DIR, DARTGOLF_BINARY_DIR).
std::filesystem::path default_source_root();
std::filesystem::path default_build_dir();

// One line describing how the set is computed (printed with the list and in logs).
std::string code_closure_rule();

// The counted files, sorted by path. Errors name the missing map or source and how to get it.
std::vector<CodeFile> code_closure(const std::filesystem::path& source_root, const std::filesystem::path& build_dir);

// The link map's objects as source paths relative to the root (steps 1–2 above), sorted.
std::vector<std::string> linked_sources(const std::string& link_map, const std::filesystem::path& source_root);
// Steps 3: `sources` plus every project header they include, transitively, sorted.
std::vector<std::string> include_closure(const std::vector<std::string>& sources, const std::filesystem::path& source_root);

int64_t total_code_bytes(const std::vector<CodeFile>& files);

}  // namespace dg::artifact
