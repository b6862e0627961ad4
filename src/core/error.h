// dartgolf's one error type. Every failure a user can cause (bad file, bad flag, bad config)
// throws dg::Error with a message that names the file or setting and the problem; the CLI prints
// it as "error: <message>" and exits 1. The source location is kept for bug reports (--verbose).
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace dg {

class Error : public std::runtime_error {
 public:
  Error(const std::string& message, const char* source_file, int source_line)
      : std::runtime_error(message), source_file_(source_file), source_line_(source_line) {}
  const char* source_file() const { return source_file_; }
  int source_line() const { return source_line_; }

 private:
  const char* source_file_;
  int source_line_;
};

}  // namespace dg

// DG_THROW("shard " << path << ": bad magic " << magic);
#define DG_THROW(stream_expr)                                  \
  do {                                                         \
    std::ostringstream dg_error_stream_;                       \
    dg_error_stream_ << stream_expr;                           \
    throw ::dg::Error(dg_error_stream_.str(), __FILE__, __LINE__); \
  } while (0)

#define DG_CHECK(condition, stream_expr) \
  do {                                   \
    if (!(condition)) DG_THROW(stream_expr); \
  } while (0)
