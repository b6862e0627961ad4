// What a prepared data folder's prepare.json (written by `dartgolf prepare`) promises, checked where
// the folder is used: shards scored with another tokenizer than the one that made them give a wrong
// val_bpb without any other symptom, so that mismatch is refused.
#pragma once

#include <filesystem>
#include <string>

namespace dg::data {

// CRC-32 of a file's bytes as 8 lowercase hex digits (what prepare.json records).
std::string file_crc32_hex(const std::filesystem::path& path);

// When data_dir holds a prepare.json, checks that `tokenizer` is the tokenizer its shards were
// encoded with (same CRC-32); the error names both files. Folders without a manifest (the official
// FineWeb export) are not checked.
void check_prepared_tokenizer(const std::filesystem::path& data_dir, const std::filesystem::path& tokenizer);

}  // namespace dg::data
