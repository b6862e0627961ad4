// `dartgolf inspect` for the data side: what a token shard or a SentencePiece tokenizer holds.
// Each function returns the report as text (lines "key: value"), so the CLI only prints it and an
// inspector for checkpoints or artifacts can sit beside these.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace dg::data {

class Tokenizer;

enum class DataFileKind { shard, tokenizer, unknown };

// By content first (the shard magic; a parseable SentencePiece model), then by extension (.bin is
// a shard, .model a tokenizer, so a damaged one reports its real problem). A missing file is an error.
DataFileKind detect_data_file(const std::filesystem::path& file);

// Token count, id range, BOS count; with a tokenizer also the bytes the challenge's rule credits to
// the shard's targets (tokens 1..n-1, each after its predecessor), bytes per token, and the start
// of the decoded text.
std::string inspect_shard(const std::filesystem::path& shard, const Tokenizer* tokenizer = nullptr);

// Vocab size, special ids, piece-type counts, pieces with a leading "▁", mean base bytes.
std::string inspect_tokenizer(const std::filesystem::path& model);

// Detects and reports; `tokenizer` decodes a shard (ignored for a tokenizer file). An unknown
// file type is a dg::Error naming the file and the kinds it could have been.
std::string inspect_data_file(const std::filesystem::path& file,
                              const std::optional<std::filesystem::path>& tokenizer = std::nullopt);

}  // namespace dg::data
