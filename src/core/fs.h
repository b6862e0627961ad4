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

// Writes `path` atomically: `write` fills a temporary file beside it ("<path>.tmp.<pid>.<n>"), which
// is flushed, fsynced and renamed over `path` only if `write` returns normally, and the folder is
// fsynced so the rename survives a crash. On any exception the temporary is removed, the previous
// `path` (if any) is untouched, and the exception propagates. Temporaries left in the folder by a
// writer that was killed (its pid no longer runs) are removed first.
void write_file_atomic(const std::filesystem::path& path,
                       const std::function<void(std::ostream&)>& write);
void write_file_atomic(const std::filesystem::path& path, std::string_view contents);

// For the crash tests only: every later write_file_atomic kills this process with SIGKILL once it has
// written `bytes` bytes of its temporary file (flushed, so the partial file is really on disk), as a
// power cut or `kill -9` would mid-write. Negative: off (the default).
void kill_writes_after_bytes_for_testing(int64_t bytes);

// True when a and b name the same file: the same inode when both exist, else the same normalised
// absolute path (so "run/model.bin" and "./run/../run/model.bin" are one file, existing or not).
bool same_file(const std::filesystem::path& a, const std::filesystem::path& b);

// Whole file as bytes; a clear error naming the file when it is missing or unreadable.
std::string read_file_bytes(const std::filesystem::path& path);

// Files matching a glob pattern ("dir/fineweb_train_*.bin"), sorted by name like Python's
// sorted(glob.glob(...)). Only the last component is a pattern; the folder is literal (it may
// contain '[', '*' or '?'). Throws "no files match PATTERN" when empty.
std::vector<std::filesystem::path> glob_sorted(const std::string& pattern);

}  // namespace dg
