// File helpers shared by every writer: nothing dartgolf writes is ever left half-written.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace dg {

// Writes `path` atomically: `write` fills a temporary file beside it, which is flushed and renamed
// over `path` only if `write` returns normally. On any exception the temporary is removed, the
// previous `path` (if any) is untouched, and the exception propagates.
void write_file_atomic(const std::filesystem::path& path,
                       const std::function<void(std::ostream&)>& write);
void write_file_atomic(const std::filesystem::path& path, std::string_view contents);

// Whole file as bytes; a clear error naming the file when it is missing or unreadable.
std::string read_file_bytes(const std::filesystem::path& path);

// Files matching a glob pattern ("dir/fineweb_train_*.bin"), sorted by name like Python's
// sorted(glob.glob(...)). Throws "no files match PATTERN" when empty.
std::vector<std::filesystem::path> glob_sorted(const std::string& pattern);

}  // namespace dg
