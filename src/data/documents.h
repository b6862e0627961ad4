// Reading a corpus as documents, the unit that `dartgolf prepare` encodes and splits.
//   .txt   documents are separated by blank (empty or whitespace-only) lines; each is trimmed of
//          surrounding ASCII whitespace and empty ones are dropped; inner newlines are kept ("\r\n"
//          line ends read as "\n").
//   .jsonl one JSON object {"text": "..."} per line, the challenge's docs_selected.jsonl layout;
//          the text is kept verbatim, as the challenge's export encodes it. Whitespace-only lines
//          are skipped; anything else that is not such an object is an error naming file and line.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace dg::data {

enum class CorpusFormat { txt, jsonl };

// By extension (.txt or .jsonl, any case); anything else is an error naming the file.
CorpusFormat corpus_format_of(const std::filesystem::path& input);
const char* corpus_format_name(CorpusFormat format);

// Calls `visit` with every document of `input`, in file order; streams, so any size fits.
void for_each_document(const std::filesystem::path& input, const std::function<void(std::string&&)>& visit);

// `text` without leading and trailing ASCII whitespace (space, \t, \n, \v, \f, \r).
std::string_view trim_ascii_whitespace(std::string_view text);

}  // namespace dg::data
