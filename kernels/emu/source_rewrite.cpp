#include "emu/source_rewrite.h"

#include <cctype>

#include "core/error.h"

namespace dg::emu {
namespace {

bool is_identifier_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_identifier_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

class Preparer {
 public:
  Preparer(std::string_view source, const std::string& path) : src_(source), path_(path) {}

  std::string run() {
    out_ = "#line 1 \"" + path_ + "\"\n";
    bool line_start = true;  // only whitespace so far on this line
    while (pos_ < src_.size()) {
      const char c = src_[pos_];
      if (c == '\n') {
        line_start = true;
        copy(1);
      } else if (line_start && c == '#') {
        copy_directive();
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        copy(1);
      } else {
        line_start = false;
        if (starts_with("//") || starts_with("/*")) {
          copy_comment();
        } else if (c == '"' || (c == '\'' && !(pos_ > 0 && is_identifier_char(src_[pos_ - 1])))) {
          copy_literal();
        } else if (starts_with("<<<")) {
          fail(line_, "<<<...>>> launch: launch kernels with dg::cuda::launch<kernel>(grid, block, smem, stream, args...)");
        } else if (is_identifier_start(c)) {
          const std::string word = identifier();
          if (word == "__shared__") {
            if (last_word_ == "extern")
              fail(line_, "extern __shared__: dynamic shared memory is declared DG_DYNAMIC_SHARED(type, name)");
            rewrite_shared();
          } else {
            out_ += word;
            last_word_ = word;
          }
        } else {
          copy(1);
        }
      }
    }
    return out_;
  }

 private:
  [[noreturn]] void fail(int line, const std::string& what) const {
    DG_THROW(path_ << ":" << line << ": " << what << " (CUDA emulator dialect, see docs/cuda-emulator.md)");
  }

  bool starts_with(std::string_view s) const { return src_.substr(pos_, s.size()) == s; }

  void copy(size_t n) {
    for (size_t i = 0; i < n && pos_ < src_.size(); ++i) {
      if (src_[pos_] == '\n') ++line_;
      out_ += src_[pos_++];
    }
  }

  std::string identifier() {
    const size_t start = pos_;
    while (pos_ < src_.size() && is_identifier_char(src_[pos_])) ++pos_;
    return std::string(src_.substr(start, pos_ - start));
  }

  // Copies (or, inside a __shared__ declaration, skips) a comment up to its end.
  void copy_comment(bool emit = true) {
    auto take = [this, emit](size_t n) {
      if (emit) {
        copy(n);
        return;
      }
      for (size_t i = 0; i < n && pos_ < src_.size(); ++i)
        if (src_[pos_++] == '\n') ++line_;
    };
    if (starts_with("//")) {
      while (pos_ < src_.size() && src_[pos_] != '\n') take(1);
      return;
    }
    const int start = line_;
    take(2);
    while (pos_ < src_.size() && !starts_with("*/")) take(1);
    if (pos_ >= src_.size()) fail(start, "unterminated comment");
    take(2);
  }

  void copy_literal() {
    const char quote = src_[pos_];
    const int start = line_;
    if (quote == '"' && pos_ > 0 && src_[pos_ - 1] == 'R') {  // raw string R"delim(...)delim"
      const size_t open = src_.find('(', pos_);
      if (open == std::string_view::npos) fail(start, "malformed raw string literal");
      std::string closing(1, ')');
      closing.append(src_.substr(pos_ + 1, open - pos_ - 1));
      closing.push_back('"');
      const size_t close = src_.find(closing, open);
      if (close == std::string_view::npos) fail(start, "unterminated raw string literal");
      copy(close + closing.size() - pos_);
      return;
    }
    copy(1);
    while (pos_ < src_.size() && src_[pos_] != quote) {
      if (src_[pos_] == '\n') fail(start, "unterminated literal");
      copy(src_[pos_] == '\\' ? 2 : 1);
    }
    if (pos_ >= src_.size()) fail(start, "unterminated literal");
    copy(1);
  }

  // A preprocessor directive, with its backslash-continued lines, is copied unchanged.
  void copy_directive() {
    while (pos_ < src_.size() && src_[pos_] != '\n') {
      if (src_[pos_] == '\\' && pos_ + 1 < src_.size() && src_[pos_ + 1] == '\n')
        copy(2);
      else if (starts_with("/*"))
        copy_comment();
      else
        copy(1);
    }
  }

  // At the first character after `__shared__`: reads the declaration to its `;`, checks it and
  // writes it back as a registered static.
  void rewrite_shared() {
    const int start = line_;
    const size_t begin = pos_;
    int depth = 0;        // (), [], {}
    int angle = 0;        // template arguments in the type
    std::string name;     // the last identifier at depth 0 before any '['
    bool in_brackets_seen = false;
    std::string last_identifier;
    while (true) {
      if (pos_ >= src_.size()) fail(start, "__shared__ declaration without ';'");
      const char c = src_[pos_];
      if (starts_with("//") || starts_with("/*")) {
        copy_comment(false);  // the declaration's text, comments included, is written back below
        continue;
      }
      if (c == '"' || c == '\'') fail(start, "__shared__ declaration with a literal");
      if (is_identifier_start(c)) {
        const std::string word = identifier();
        if (depth == 0 && angle == 0 && !in_brackets_seen) last_identifier = word;
        continue;
      }
      if (c == '\n') ++line_;
      if (c == '(' || c == '[' || c == '{') {
        if (c == '{' && depth == 0) fail(start, "__shared__ variables take no initializer");
        if (c == '[' && depth == 0 && angle == 0 && !in_brackets_seen) {
          name = last_identifier;
          in_brackets_seen = true;
        }
        ++depth;
      } else if (c == ')' || c == ']' || c == '}') {
        --depth;
      } else if (depth == 0 && c == '<') {
        ++angle;
      } else if (depth == 0 && c == '>') {
        --angle;
      } else if (depth == 0 && angle == 0 && c == '=') {
        fail(start, "__shared__ variables take no initializer");
      } else if (depth == 0 && angle == 0 && c == ',') {
        fail(start, "one variable per __shared__ declaration");
      } else if (depth == 0 && c == ';') {
        break;
      }
      ++pos_;
    }
    if (!in_brackets_seen) name = last_identifier;
    static const char* const kNotNames[] = {"float",    "double", "int",   "unsigned", "char",  "short", "long",
                                            "bool",     "const",  "volatile", "signed", "__align__", "alignas"};
    for (const char* keyword : kNotNames)
      if (name == keyword) name.clear();
    if (name.empty()) fail(start, "cannot find the variable name of this __shared__ declaration");
    const std::string_view declaration = src_.substr(begin, pos_ - begin);
    ++pos_;  // the ';'
    out_ += "static";
    out_ += declaration;
    out_ += "; [[maybe_unused]] static const bool dg_emu_shared_" + name + "_ = ::dg::emu::register_static_shared(" +
            "__builtin_addressof(" + name + "), sizeof(" + name + "), \"" + name + "\", __FILE__, __LINE__);";
    last_word_.clear();
  }

  std::string_view src_;
  std::string path_;
  std::string out_;
  size_t pos_ = 0;
  int line_ = 1;
  std::string last_word_;
};

}  // namespace

std::string prepare_kernel_source(std::string_view source, const std::string& path) {
  return Preparer(source, path).run();
}

}  // namespace dg::emu
