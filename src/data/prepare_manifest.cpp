#include "data/prepare_manifest.h"

#include <cstdio>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/checksum.h"
#include "core/error.h"
#include "core/fs.h"
#include "data/prepare.h"

namespace dg::data {
namespace fs = std::filesystem;

std::string file_crc32_hex(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  DG_CHECK(in, "cannot open " << path.string() << " to checksum it");
  uint32_t crc = 0;
  std::vector<char> chunk(1 << 20);
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto got = in.gcount();
    if (got > 0) crc = crc32_update(crc, chunk.data(), static_cast<size_t>(got));
  }
  DG_CHECK(!in.bad(), "read of " << path.string() << " failed while checksumming it");
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08lx", static_cast<unsigned long>(crc));
  return hex;
}

void check_prepared_tokenizer(const fs::path& data_dir, const fs::path& tokenizer) {
  const fs::path manifest_path = data_dir / kPrepareManifestName;
  std::error_code ec;
  if (!fs::is_regular_file(manifest_path, ec)) return;
  const nlohmann::json manifest = nlohmann::json::parse(read_file_bytes(manifest_path), nullptr, false);
  DG_CHECK(manifest.is_object() && manifest.contains("tokenizer") && manifest["tokenizer"].is_object() &&
               manifest["tokenizer"].value("crc32", std::string()).size() == 8,
           manifest_path.string() << ": not a prepare manifest with a tokenizer checksum (tokenizer.crc32); re-run "
                                     "dartgolf prepare, or remove the file to skip this check");
  const nlohmann::json& recorded = manifest["tokenizer"];
  const std::string expected = recorded["crc32"].get<std::string>();
  const std::string actual = file_crc32_hex(tokenizer);
  if (actual == expected) return;
  // The trained tokenizer is recorded relative to the data folder.
  fs::path recorded_path = recorded.value("path", std::string("(path not recorded)"));
  if (recorded_path.is_relative()) recorded_path = data_dir / recorded_path;
  DG_THROW("tokenizer mismatch: the shards in " << data_dir.string() << " were prepared with "
                                                << recorded_path.string() << " (crc32 " << expected
                                                << "), but TOKENIZER_PATH is " << tokenizer.string() << " (crc32 "
                                                << actual << "); val_bpb would count the wrong bytes. Set "
                                                << "TOKENIZER_PATH (--set tokenizer_path=...) to the tokenizer the "
                                                   "shards were made with, or prepare the data again");
}

}  // namespace dg::data
