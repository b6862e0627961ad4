// Logging in the challenge's format. train_gpt.py's log0() prints a line to the console and
// appends it to logs/<run_id>.txt; dartgolf keeps those exact lines ("step:200/20000 val_loss:..."),
// so existing log parsers keep working, and adds a JSONL metrics file for tools.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace dg {

class Logger {
 public:
  Logger() = default;
  // Appends to `logfile` (created with its folders) as well as printing; empty path: console only.
  explicit Logger(const std::filesystem::path& logfile, bool is_master = true);

  // One line, like train_gpt.py's log0(msg, console).
  void log(std::string_view line, bool console = true);
  // A transient status line on a terminal (overwritten in place); nothing on a pipe or in the file.
  void progress(std::string_view line);
  const std::filesystem::path& path() const { return path_; }

 private:
  void end_progress();
  std::filesystem::path path_;
  std::ofstream file_;
  bool is_master_ = true;
  bool progress_shown_ = false;
  bool console_is_tty_ = false;
};

// One JSON object per line, flushed per record so a crashed run keeps everything logged so far.
class MetricsWriter {
 public:
  MetricsWriter() = default;
  explicit MetricsWriter(const std::filesystem::path& path);
  void write(const nlohmann::json& record);
  bool is_open() const { return file_.is_open(); }

 private:
  std::ofstream file_;
};

// "%.4f"-style formatting, which the challenge's lines use throughout.
std::string fixed(double value, int decimals);
// 17059912 -> "17,059,912".
std::string with_thousands(int64_t n);
// A tensor shape as messages and reports print it: "[1024, 512]".
std::string format_shape(const std::vector<int64_t>& shape);

}  // namespace dg
