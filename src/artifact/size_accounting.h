// Submission size = artifact bytes + code bytes, capped at 16,000,000 (decimal) bytes. The code
// bytes are the compressed code archive's (artifact/code_archive.h).
#pragma once

#include <cstdint>

namespace dg::artifact {

inline constexpr int64_t kSubmissionCapBytes = 16'000'000;

struct SubmissionSize {
  int64_t artifact_bytes = 0, code_bytes = 0;
  int64_t total() const { return artifact_bytes + code_bytes; }
  bool over_cap() const { return total() > kSubmissionCapBytes; }
};
// Throws a clear error when the total is over the cap, unless allow_oversize.
void enforce_size_cap(const SubmissionSize& size, bool allow_oversize);

}  // namespace dg::artifact
