// The .jsonl corpus reader of `dartgolf prepare` (one {"text": ...} object per line): malformed
// lines, missing or non-string "text", invalid UTF-8, huge lines: only dg::Error may come out.
#include "core/error.h"
#include "data/documents.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path path = dg::fuzz::scratch_file("corpus.jsonl");
  dg::fuzz::write_bytes(path, data, size);
  try {
    size_t bytes = 0;
    dg::data::for_each_document(path, [&](std::string&& document) { bytes += document.size(); });
  } catch (const dg::Error&) {
  }
  return 0;
}
