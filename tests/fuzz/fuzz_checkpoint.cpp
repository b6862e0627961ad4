// The safetensors reader and the checkpoint loader on top of it (format, config JSON, step, dtypes,
// offsets, the data checksum, the resumable train_state): only dg::Error may come out.
#include "core/error.h"
#include "fuzz_input.h"
#include "train/checkpoint.h"
#include "train/train_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path dir = dg::fuzz::scratch_file("run");
  static const bool made = std::filesystem::create_directories(dir) || true;
  (void)made;
  const std::filesystem::path path = dir / "checkpoint_step000001.safetensors";
  dg::fuzz::write_bytes(path, data, size);
  try {
    dg::load_checkpoint(path);
  } catch (const dg::Error&) {
  }
  try {
    dg::find_resume_point(dir, [](const std::string&) {});
  } catch (const dg::Error&) {
  }
  return 0;
}
