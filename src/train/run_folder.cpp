#include "train/run_folder.h"

#include <algorithm>

#include "core/error.h"

namespace dg {
namespace fs = std::filesystem;

namespace {
// What a run produces that another run must not silently replace: its models. The log and metrics
// of an attempt that never saved a model (a typo, a missing data folder) are appended to instead;
// metrics.jsonl's run_start records keep the attempts apart.
bool is_run_file(const std::string& name) {
  const bool model = name.rfind("final_model.", 0) == 0;
  const bool checkpoint = name.rfind("checkpoint_step", 0) == 0 && name.find(".safetensors") != std::string::npos;
  return model || checkpoint;
}
}  // namespace

std::vector<std::string> previous_run_files(const fs::path& dir) {
  std::vector<std::string> found;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return found;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (is_run_file(name)) found.push_back(name);
  }
  std::sort(found.begin(), found.end());
  return found;
}

void prepare_fresh_run_folder(const fs::path& dir, bool overwrite) {
  std::error_code ec;
  DG_CHECK(!fs::exists(dir, ec) || fs::is_directory(dir, ec), "--out " << dir.string() << " exists and is not a folder");
  const std::vector<std::string> previous = previous_run_files(dir);
  if (!previous.empty() && !overwrite) {
    std::string listing;
    for (const std::string& name : previous) listing += (listing.empty() ? "" : ", ") + name;
    DG_THROW("run folder " << dir.string() << " already holds a run (" << listing
                           << "); continue it with --resume " << dir.string()
                           << ", replace it with --overwrite, or choose another --out");
  }
  for (const std::string& name : std::vector<std::string>{"train_log.txt", "metrics.jsonl"})
    if (!previous.empty() && fs::exists(dir / name, ec)) fs::remove(dir / name, ec);
  for (const std::string& name : previous) {
    fs::remove(dir / name, ec);
    DG_CHECK(!ec, "--overwrite: cannot remove " << (dir / name).string() << ": " << ec.message());
  }
  fs::create_directories(dir, ec);
  DG_CHECK(!ec, "cannot create the run folder " << dir.string() << ": " << ec.message());
}

}  // namespace dg
