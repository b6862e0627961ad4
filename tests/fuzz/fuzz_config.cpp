// Settings from a --config file (JSON text, typed coercion of every key, integer range) and the
// pluggable-blocks list inside it: only dg::Error may come out.
#include "core/error.h"
#include "fuzz_input.h"
#include "model/blocks/block_spec.h"
#include "model/settings.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path path = dg::fuzz::scratch_file("config.json");
  dg::fuzz::write_bytes(path, data, size);
  try {
    dg::Config config(dg::default_settings());
    config.merge_file(path);
    dg::blocks::parse_block_specs(config.at("blocks"), 4);
  } catch (const dg::Error&) {
  }
  return 0;
}
