#include "core/log.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "core/error.h"

namespace dg {

Logger::Logger(const std::filesystem::path& logfile, bool is_master)
    : path_(logfile), is_master_(is_master), console_is_tty_(::isatty(STDOUT_FILENO) == 1) {
  if (!is_master_ || logfile.empty()) return;
  if (logfile.has_parent_path()) std::filesystem::create_directories(logfile.parent_path());
  file_.open(logfile, std::ios::app);
  DG_CHECK(file_, "cannot open log file " << logfile << " for writing");
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
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  file_.open(path, std::ios::app);
  DG_CHECK(file_, "cannot open metrics file " << path << " for writing");
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

}  // namespace dg
