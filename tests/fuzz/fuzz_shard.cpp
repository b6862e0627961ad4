// The challenge shard reader (header validation, sizes, token ids against the vocab) on arbitrary
// bytes: a bad file must be a dg::Error, never a crash, a hang or an out-of-bounds read.
#include "core/error.h"
#include "data/shard.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path path = dg::fuzz::scratch_file("fineweb_train_000000.bin");
  dg::fuzz::write_bytes(path, data, size);
  try {
    dg::data::read_shard_header(path);
    dg::data::read_shard(path, 1024);
  } catch (const dg::Error&) {
  }
  return 0;
}
