#include "core/log.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "core/error.h"

namespace dg {

namespace {
void create_parent_folder(const std::filesystem::path& file) {
  if (!file.has_parent_path()) return;
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  DG_CHECK(!ec, "cannot create the folder " << file.parent_path().string() << " for " << file.filename().string()
                                            << ": " << ec.message());
}
}  // namespace

Logger::Logger(const std::filesystem::path& logfile, bool is_master)
    : path_(logfile), is_master_(is_master), console_is_tty_(::isatty(STDOUT_FILENO) == 1) {
  if (!is_master_ || logfile.empty()) return;
  create_parent_folder(logfile);
  file_.open(logfile, std::ios::app);
  DG_CHECK(file_, "cannot open log file " << logfile.string() << " for writing: " << std::strerror(errno));
}

void Logger::end_progress() {
  if (progress_shown_) {
    std::fputs("\r\033[K", stdout);
    progress_shown_ = false;
  }
}

void Logger::log(std::string_view line, bool console) {
  if (!is_master_) return;
  if (console) {
    end_progress();
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  if (file_.is_open()) {
    file_ << line << '\n';
    file_.flush();
  }
}

void Logger::progress(std::string_view line) {
  if (!is_master_ || !console_is_tty_) return;
  std::fputs("\r\033[K", stdout);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
  progress_shown_ = true;
}

MetricsWriter::MetricsWriter(const std::filesystem::path& path) {
  create_parent_folder(path);
  file_.open(path, std::ios::app);
  DG_CHECK(file_, "cannot open metrics file " << path.string() << " for writing: " << std::strerror(errno));
}

void MetricsWriter::write(const nlohmann::json& record) {
  if (!file_.is_open()) return;
  file_ << record.dump() << '\n';
  file_.flush();
}

std::string format_shape(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

std::string with_thousands(int64_t n) {
  const std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out = n < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace dg
