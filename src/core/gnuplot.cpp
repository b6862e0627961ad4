#include "core/gnuplot.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"

namespace dg {
namespace fs = std::filesystem;

std::string find_gnuplot(std::string* why) {
  if (const char* chosen = std::getenv("GNUPLOT"); chosen != nullptr && *chosen != '\0') {
    if (::access(chosen, X_OK) == 0) return chosen;
    if (why) *why = std::string("GNUPLOT=") + chosen + " is not an executable file";
    return "";
  }
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / "gnuplot";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  if (why) *why = "gnuplot is not installed (Debian/Ubuntu: apt-get install gnuplot-nox; scripts/setup.sh installs it)";
  return "";
}

std::string gnuplot_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += "''";
    else if (c != '\n' && c != '\r') out += c;
  }
  return out + "'";
}

namespace {
// Runs gnuplot on `script_path` in `dir`; returns its exit status, its stderr in `errors`.
int run_gnuplot(const std::string& gnuplot, const fs::path& dir, const fs::path& script_path, std::string& errors) {
  const fs::path error_file = dir / "gnuplot.stderr";
  const pid_t child = ::fork();
  DG_CHECK(child >= 0, "cannot start gnuplot: fork failed");
  if (child == 0) {
    if (::chdir(dir.c_str()) != 0) ::_exit(126);
    if (!std::freopen(error_file.c_str(), "w", stderr)) ::_exit(126);
    ::execl(gnuplot.c_str(), gnuplot.c_str(), script_path.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  std::error_code ec;
  if (fs::exists(error_file, ec)) errors = read_file_bytes(error_file);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}
}  // namespace

void render_png(const GnuplotFigure& figure, const fs::path& png) {
  std::string why;
  const std::string gnuplot = find_gnuplot(&why);
  DG_CHECK(!gnuplot.empty(), "cannot draw " << png.string() << ": " << why);
  std::random_device rd;
  const fs::path dir = fs::temp_directory_path() / ("dartgolf-plot-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  fs::create_directories(dir);
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ignored;
      fs::remove_all(dir, ignored);
    }
  } cleanup{dir};
  for (const auto& [name, contents] : figure.data) write_file_atomic(dir / name, contents);
  std::ostringstream script;
  script << "set terminal pngcairo size " << figure.width << "," << figure.height
         << " noenhanced font 'DejaVu Sans,10' background rgb 'white'\n"
         << "set output 'figure.png'\n"
         << figure.script << "\nunset output\n";
  write_file_atomic(dir / "figure.gp", script.str());
  std::string errors;
  const int status = run_gnuplot(gnuplot, dir, dir / "figure.gp", errors);
  std::error_code ec;
  DG_CHECK(status == 0 && fs::exists(dir / "figure.png", ec) && fs::file_size(dir / "figure.png", ec) > 0,
           "gnuplot (" << gnuplot << ") could not draw " << png.string() << " (exit " << status << "): " << errors);
  write_file_atomic(png, read_file_bytes(dir / "figure.png"));
}

}  // namespace dg
