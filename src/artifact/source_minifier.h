// What a submission's code archive holds of each C++/CUDA source: the code without its comments.
// The challenge counts code bytes, and this project's comments (written for the people who work on
// it, in the repository) are about a third of its compressed source. Only comments and layout go:
// every string, character and raw-string literal stays byte for byte, every line break a directive
// or a backslash continuation needs stays, so the archive compiles to the same program
// (tests/e2e/test_submission_rebuild.cpp rebuilds it and re-scores the artifact).
#pragma once

#include <string>
#include <string_view>

namespace dg::artifact {

// True for the files strip_comments applies to: .cpp .cc .h .hpp .cu .cuh.
bool is_cpp_source(std::string_view path);

// `source` without comments; runs of blanks become one space, lines lose their leading and trailing
// blanks, and empty lines go (except one that ends a backslash-continued line).
std::string strip_comments(std::string_view source);

}  // namespace dg::artifact
