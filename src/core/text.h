// Small text helpers for messages a user reads: the nearest valid name for a typo, and bytes made
// printable before they reach a terminal or a log.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace dg {

// Levenshtein distance (insertions, deletions, substitutions each cost 1).
size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word` when it is at most `max_distance` edits away, else "".
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates, size_t max_distance = 3);

// A JSON library error without its internal tag: "[json.exception.parse_error.101] parse error at
// line 1, column 1: ..." becomes "parse error at line 1, column 1: ...".
std::string json_error_text(const char* what);

// `text` with every byte that is not printable ASCII or part of valid UTF-8 written as \xNN, and
// control characters other than newline and tab escaped the same way: library messages that echo a
// file's bytes (a binary file given as JSON) must not garble the terminal or the log.
std::string printable(std::string_view text);

}  // namespace dg
