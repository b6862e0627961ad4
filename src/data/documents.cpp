#include "data/documents.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/text.h"

namespace dg::data {
namespace fs = std::filesystem;

namespace {

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

std::ifstream open_corpus(const fs::path& input) {
  std::error_code ec;
  DG_CHECK(fs::exists(input, ec), "input " << input.string() << ": no such file");
  DG_CHECK(!fs::is_directory(input, ec), "input " << input.string() << ": is a directory, expected a .txt or .jsonl file");
  std::ifstream in(input, std::ios::binary);
  DG_CHECK(in, "input " << input.string() << ": cannot open: " << std::strerror(errno));
  return in;
}

void drop_carriage_return(std::string& line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
}

void for_each_txt_document(const fs::path& input, const std::function<void(std::string&&)>& visit) {
  std::ifstream in = open_corpus(input);
  std::string paragraph;
  std::string line;
  bool paragraph_open = false;
  auto emit = [&] {
    const std::string_view trimmed = trim_ascii_whitespace(paragraph);
    if (!trimmed.empty()) visit(std::string(trimmed));
    paragraph.clear();
    paragraph_open = false;
  };
  while (std::getline(in, line)) {
    drop_carriage_return(line);
    if (trim_ascii_whitespace(line).empty()) {
      emit();
      continue;
    }
    if (paragraph_open) paragraph += '\n';
    paragraph += line;
    paragraph_open = true;
  }
  DG_CHECK(!in.bad(), "input " << input.string() << ": read failed");
  emit();
}

void for_each_jsonl_document(const fs::path& input, const std::function<void(std::string&&)>& visit) {
  std::ifstream in = open_corpus(input);
  std::string line;
  int64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (trim_ascii_whitespace(line).empty()) continue;
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {  // parse errors and numbers out of range alike
      DG_THROW("input " << input.string() << ":" << line_number << ": not valid JSON (" << json_error_text(e.what()) << ")");
    }
    DG_CHECK(record.is_object(), "input " << input.string() << ":" << line_number
                                          << ": expected a JSON object {\"text\": ...}, got " << record.type_name());
    const auto text = record.find("text");
    DG_CHECK(text != record.end(), "input " << input.string() << ":" << line_number << ": the object has no \"text\" field");
    DG_CHECK(text->is_string(), "input " << input.string() << ":" << line_number << ": \"text\" is a "
                                         << text->type_name() << ", expected a string");
    visit(text->get<std::string>());
  }
  DG_CHECK(!in.bad(), "input " << input.string() << ": read failed");
}

}  // namespace

CorpusFormat corpus_format_of(const fs::path& input) {
  std::string extension = input.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (extension == ".txt") return CorpusFormat::txt;
  if (extension == ".jsonl") return CorpusFormat::jsonl;
  DG_THROW("input " << input.string() << ": unknown extension \"" << extension
                    << "\"; expected .txt (documents separated by blank lines) or .jsonl (one {\"text\": ...} per line)");
}

const char* corpus_format_name(CorpusFormat format) { return format == CorpusFormat::txt ? "txt" : "jsonl"; }

void for_each_document(const fs::path& input, const std::function<void(std::string&&)>& visit) {
  if (corpus_format_of(input) == CorpusFormat::txt) {
    for_each_txt_document(input, visit);
  } else {
    for_each_jsonl_document(input, visit);
  }
}

std::string_view trim_ascii_whitespace(std::string_view text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && is_ascii_space(text[begin])) ++begin;
  while (end > begin && is_ascii_space(text[end - 1])) --end;
  return text.substr(begin, end - begin);
}

}  // namespace dg::data
