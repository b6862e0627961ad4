#include "core/fs.h"

#include <glob.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace dg {
namespace fs = std::filesystem;

namespace {
fs::path temporary_sibling(const fs::path& path) {
  static std::atomic<uint64_t> counter{0};
  fs::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  return tmp;
}
}  // namespace

void write_file_atomic(const fs::path& path, const std::function<void(std::ostream&)>& write) {
  if (path.has_parent_path() && !path.parent_path().empty()) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    DG_CHECK(!ec, "cannot create directory " << path.parent_path() << ": " << ec.message());
  }
  const fs::path tmp = temporary_sibling(path);
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      DG_CHECK(out, "cannot open " << tmp << " for writing: " << std::strerror(errno));
      write(out);
      out.flush();
      DG_CHECK(out, "write to " << tmp << " failed (disk full?)");
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    DG_CHECK(!ec, "cannot rename " << tmp << " to " << path << ": " << ec.message());
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
}

void write_file_atomic(const fs::path& path, std::string_view contents) {
  write_file_atomic(path, [&](std::ostream& out) { out.write(contents.data(), static_cast<std::streamsize>(contents.size())); });
}

std::string read_file_bytes(const fs::path& path) {
  std::error_code ec;
  DG_CHECK(fs::exists(path, ec), path.string() << ": no such file");
  DG_CHECK(!fs::is_directory(path, ec), path.string() << ": is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  DG_CHECK(in, path.string() << ": cannot open: " << std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  DG_CHECK(!in.bad(), path.string() << ": read failed");
  return buffer.str();
}

std::vector<fs::path> glob_sorted(const std::string& pattern) {
  glob_t result{};
  const int rc = ::glob(pattern.c_str(), 0, nullptr, &result);
  std::vector<fs::path> files;
  if (rc == 0) {
    for (size_t i = 0; i < result.gl_pathc; ++i) files.emplace_back(result.gl_pathv[i]);
  }
  ::globfree(&result);
  DG_CHECK(rc == 0 || rc == GLOB_NOMATCH, "cannot list files for pattern " << pattern);
  DG_CHECK(!files.empty(), "no files match " << pattern);
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace dg
