// `dartgolf pack`: checkpoint → artifact (+ GPTQ calibration when asked, + size accounting with the
// code archive, + optionally the scored round trip and a submission folder). The CLI only parses
// flags and prints the lines this returns.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace dg::artifact {

struct PackRequest {
  std::filesystem::path checkpoint, out;
  std::string codec;  // empty: the checkpoint config's artifact_codec
  int bits = 0;       // 0: the checkpoint config's artifact_bits
  std::vector<std::string> assignments;  // --set key=value on top of the checkpoint's config
  bool allow_oversize = false;
  std::filesystem::path source_root;  // empty: the tree this binary was built from
  std::filesystem::path build_dir;    // empty: the build this binary came from (its submission link map)
  // --submission DIR: also score the round trip and write the records folder (artifact and code
  // archive included).
  std::filesystem::path submission_dir;
  std::string author, github_id, name, blurb;
  std::filesystem::path train_log;  // empty: train_log.txt beside the checkpoint
  std::string hardware;             // empty: what the checkpoint recorded
  std::filesystem::path data_dir, tokenizer;  // empty: the run's data_path / tokenizer_path (GPTQ calibrates on its train shards)
  int64_t eval_batch_tokens = 0;  // 0: the run's training micro-batch, as `eval` (same batches, same bits)
  std::string device;             // --device for the round trip's scoring (empty: auto)
};

// `dartgolf pack --plan`: the size plan (artifact/size_plan.h) of the checkpoint, or, without one,
// of `preset`, under the request's codec, width and --set settings.
std::vector<std::string> plan_listing(const PackRequest& request, const std::string& preset);

// Runs the request; each log line goes to `print` as it happens (sizes, then the round trip).
void run_pack(const PackRequest& request, const std::function<void(const std::string&)>& print);

// `dartgolf pack --list-code-files`: "bytes<TAB>path" per counted file, then each archive format's
// size and the one that counts.
std::vector<std::string> code_file_listing(const std::filesystem::path& source_root, const std::filesystem::path& build_dir);

}  // namespace dg::artifact
