#include "core/fs.h"

#include <fnmatch.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace dg {
namespace fs = std::filesystem;

namespace {
constexpr const char* kTemporaryTag = ".tmp.";

fs::path temporary_sibling(const fs::path& path) {
  static std::atomic<uint64_t> counter{0};
  fs::path tmp = path;
  tmp += kTemporaryTag + std::to_string(::getpid()) + "." + std::to_string(counter++);
  return tmp;
}

// The writer's pid when `name` is one of our temporaries ("<file>.tmp.<pid>.<n>"), else 0.
pid_t temporary_owner(const std::string& name) {
  const size_t tag = name.rfind(kTemporaryTag);
  if (tag == std::string::npos || tag == 0) return 0;
  const std::string rest = name.substr(tag + std::strlen(kTemporaryTag));
  const size_t dot = rest.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == rest.size()) return 0;
  if (rest.find_first_not_of("0123456789.") != std::string::npos || rest.find('.', dot + 1) != std::string::npos)
    return 0;
  const long pid = std::strtol(rest.substr(0, dot).c_str(), nullptr, 10);
  return pid > 0 && pid < (1L << 30) ? static_cast<pid_t>(pid) : 0;
}

// A process killed while writing (SIGKILL, power loss) leaves its temporary behind; the next write
// into the same folder removes the temporaries of writers that no longer run.
void remove_stale_temporaries(const fs::path& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const pid_t owner = temporary_owner(it->path().filename().string());
    if (owner == 0 || owner == ::getpid()) continue;
    if (::kill(owner, 0) == -1 && errno == ESRCH) {
      std::error_code ignored;
      fs::remove(it->path(), ignored);
    }
  }
}

std::atomic<int64_t> g_kill_after_bytes{-1};

// Passes bytes through to `target` until the budget is spent, then flushes and dies (the crash tests).
class KillAfterBytes : public std::streambuf {
 public:
  KillAfterBytes(std::streambuf* target, int64_t budget) : target_(target), left_(budget) {}

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    if (n >= left_) {
      target_->sputn(s, left_);
      target_->pubsync();
      ::raise(SIGKILL);
    }
    left_ -= n;
    return target_->sputn(s, n);
  }
  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
    const char ch = traits_type::to_char_type(c);
    return xsputn(&ch, 1) == 1 ? c : traits_type::eof();
  }

 private:
  std::streambuf* target_;
  std::streamsize left_;
};

// fsync(2) on a file or folder: the data (or a rename inside the folder) is on disk when it returns.
void sync_path(const fs::path& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  DG_CHECK(fd >= 0, "cannot open " << path.string() << " to sync it to disk: " << std::strerror(errno));
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  // Some filesystems cannot sync a folder (EINVAL); the file itself was synced, which is what matters.
  DG_CHECK(rc == 0 || (directory && saved == EINVAL),
           "cannot sync " << path.string() << " to disk: " << std::strerror(saved));
}
}  // namespace

void write_file_atomic(const fs::path& path, const std::function<void(std::ostream&)>& write) {
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  {
    std::error_code ec;
    fs::create_directories(dir, ec);
    DG_CHECK(!ec, "cannot create directory " << dir.string() << ": " << ec.message());
  }
  remove_stale_temporaries(dir);
  const fs::path tmp = temporary_sibling(path);
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      DG_CHECK(out, "cannot open " << tmp.string() << " for writing: " << std::strerror(errno));
      if (const int64_t budget = g_kill_after_bytes.load(); budget >= 0) {
        KillAfterBytes killer(out.rdbuf(), budget);
        std::ostream doomed(&killer);
        write(doomed);
      } else {
        write(out);
      }
      out.close();
      DG_CHECK(out, "write to " << tmp.string() << " failed (disk full?)");
    }
    // Data first, then the rename, then the folder entry: after a crash at any point `path` is
    // either the previous file or the complete new one.
    sync_path(tmp, /*directory=*/false);
    std::error_code ec;
    fs::rename(tmp, path, ec);
    DG_CHECK(!ec, "cannot rename " << tmp.string() << " to " << path.string() << ": " << ec.message());
    sync_path(dir, /*directory=*/true);
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
}

void kill_writes_after_bytes_for_testing(int64_t bytes) { g_kill_after_bytes.store(bytes); }

void write_file_atomic(const fs::path& path, std::string_view contents) {
  write_file_atomic(path, [&](std::ostream& out) { out.write(contents.data(), static_cast<std::streamsize>(contents.size())); });
}

bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) {
    const bool same = fs::equivalent(a, b, ec);
    if (!ec) return same;
  }
  return fs::weakly_canonical(fs::absolute(a), ec) == fs::weakly_canonical(fs::absolute(b), ec);
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
  // Only the file name is a pattern: the folder is taken literally, so a data path such as
  // "runs/data[1]" or "shards?" still finds its shards (glob(3) would read the brackets as a pattern).
  const fs::path full(pattern);
  const fs::path dir = full.has_parent_path() ? full.parent_path() : fs::path(".");
  const std::string name_pattern = full.filename().string();
  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::is_directory(dir, ec)) {
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      // FNM_PERIOD: like Python's glob, '*' never matches a leading dot.
      if (::fnmatch(name_pattern.c_str(), name.c_str(), FNM_PERIOD) == 0)
        files.push_back(full.has_parent_path() ? dir / name : fs::path(name));
    }
    DG_CHECK(!ec, "cannot list the folder " << dir.string() << " for " << pattern << ": " << ec.message());
  }
  DG_CHECK(!files.empty(), "no files match " << pattern);
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace dg
