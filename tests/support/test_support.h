// Helpers shared by the tests: scratch folders, running the dartgolf binary, reading files.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <string>

namespace dg::test {

// A fresh folder under the build's temp area, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs a shell command, capturing stdout and stderr together.
CommandResult run_command(const std::string& shell_command);
// Runs the built dartgolf binary with `args` (shell-quoted by the caller), capturing output.
CommandResult run_dartgolf(const std::string& args, const std::string& env_prefix = "");
// Starts the dartgolf binary in the background (its own pid: no shell in between), stdout and
// stderr going to `output`. For tests that signal or kill a run part-way.
pid_t start_dartgolf(const std::string& args, const std::filesystem::path& output);
// The same for another program (the emulated CUDA build of dartgolf, say).
pid_t start_program(const std::string& binary, const std::string& args, const std::filesystem::path& output);
// Waits for a started process; its exit code, or 128 + the signal that killed it.
int wait_for_exit(pid_t pid);
// Polls (up to `timeout_s`) until `file` contains `text`; false on timeout.
bool wait_for_text(const std::filesystem::path& file, const std::string& text, double timeout_s = 60.0);

// 'path' for a shell command line.
std::string quoted(const std::filesystem::path& path);

// The message of the dg::Error `action` throws; a test failure (and "") when it throws none.
std::string error_of(const std::function<void()>& action);

std::string read_text(const std::filesystem::path& path);
void write_text(const std::filesystem::path& path, const std::string& text);

// ../shared/data/<name>; tests that need it skip when it is absent.
std::filesystem::path shared_data(const std::string& name);
std::filesystem::path repo_root();

}  // namespace dg::test
