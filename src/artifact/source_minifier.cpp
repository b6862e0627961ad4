#include "artifact/source_minifier.h"

#include <array>

namespace dg::artifact {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }
bool is_ident(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Builds the output one token at a time, deciding blanks and line breaks as it goes.
class Writer {
 public:
  void token(std::string_view text) {
    if (at_line_start() ? continuation_ && leading_blank_ : blank_) out_ += ' ';
    blank_ = leading_blank_ = false;
    out_ += text;
  }
  // Blanks (or a comment) between tokens. At the start of a line they are dropped, unless the line
  // continues a backslash-ended one: there they still separate two tokens.
  void blank() { (at_line_start() ? leading_blank_ : blank_) = true; }
  void line_break() {
    blank_ = leading_blank_ = false;
    if (at_line_start()) {
      // An empty line is dropped, unless it ends a backslash-continued directive.
      if (continuation_) out_ += '\n';
      continuation_ = false;
      return;
    }
    continuation_ = out_.back() == '\\';
    out_ += '\n';
  }
  std::string finish() {
    if (!at_line_start()) out_ += '\n';
    return std::move(out_);
  }

 private:
  bool at_line_start() const { return out_.empty() || out_.back() == '\n'; }
  std::string out_;
  bool blank_ = false, leading_blank_ = false, continuation_ = false;
};

// The end of the literal that starts at `i` with quote `q` (just past its closing quote).
size_t quoted_end(std::string_view s, size_t i, char q) {
  size_t j = i + 1;
  while (j < s.size() && s[j] != q && s[j] != '\n') j += s[j] == '\\' ? 2 : 1;
  return j < s.size() ? j + 1 : s.size();
}

// The end of the raw string whose `"` is at `i` (R"delim( ... )delim").
size_t raw_string_end(std::string_view s, size_t i) {
  const size_t open = s.find('(', i);
  if (open == std::string_view::npos) return s.size();
  std::string close(1, ')');  // built by append: GCC 12 warns falsely (-Wrestrict) on ")" + string
  close.append(s.substr(i + 1, open - i - 1)).push_back('"');
  const size_t end = s.find(close, open);
  return end == std::string_view::npos ? s.size() : end + close.size();
}

// The end of the preprocessing number at `i`: digits, letters, '.', digit separators, exponent signs.
size_t number_end(std::string_view s, size_t i) {
  size_t j = i + 1;
  while (j < s.size()) {
    const char c = s[j], prev = s[j - 1];
    if (is_ident(c) || c == '.') {
      ++j;
    } else if (c == '\'' && j + 1 < s.size() && is_ident(s[j + 1])) {
      j += 2;
    } else if ((c == '+' || c == '-') && (prev == 'e' || prev == 'E' || prev == 'p' || prev == 'P')) {
      ++j;
    } else {
      break;
    }
  }
  return j;
}

bool is_raw_prefix(std::string_view ident) {
  constexpr std::array<std::string_view, 5> prefixes{"R", "LR", "uR", "UR", "u8R"};
  for (std::string_view p : prefixes)
    if (ident == p) return true;
  return false;
}

}  // namespace

bool is_cpp_source(std::string_view path) {
  for (std::string_view ext : {".cpp", ".cc", ".h", ".hpp", ".cu", ".cuh"})
    if (path.size() > ext.size() && path.substr(path.size() - ext.size()) == ext) return true;
  return false;
}

std::string strip_comments(std::string_view s) {
  Writer w;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '\n') {
      w.line_break();
      ++i;
      continue;
    }
    if (is_blank(c)) {
      w.blank();
      while (i < s.size() && is_blank(s[i])) ++i;
      continue;
    }
    if (c == '/' && i + 1 < s.size() && s[i + 1] == '/') {
      // A line comment ends at a newline that no backslash splices onto it.
      size_t j = i + 2;
      while (j < s.size() && !(s[j] == '\n' && s[j - 1] != '\\')) ++j;
      i = j;
      continue;
    }
    if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      const size_t end = s.find("*/", i + 2);
      i = end == std::string_view::npos ? s.size() : end + 2;
      w.blank();  // a comment separates tokens as a blank does
      continue;
    }
    size_t end = i + 1;
    if (c == '"' || c == '\'') {
      end = quoted_end(s, i, c);
    } else if (is_digit(c) || (c == '.' && i + 1 < s.size() && is_digit(s[i + 1]))) {
      end = number_end(s, i);
    } else if (is_ident(c)) {
      while (end < s.size() && is_ident(s[end])) ++end;
      if (end < s.size() && s[end] == '"' && is_raw_prefix(s.substr(i, end - i))) end = raw_string_end(s, end);
    }
    w.token(s.substr(i, end - i));
    i = end;
  }
  return w.finish();
}

}  // namespace dg::artifact
