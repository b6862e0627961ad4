#include "train/disk_budget.h"

#include "core/error.h"

namespace dg {

int64_t run_disk_need_bytes(const ParamLayout& layout, const Config& config) {
  constexpr int64_t kHeaderAllowance = 1 << 20;  // safetensors header, metadata, the log and metrics
  const int64_t weights = 4 * layout.buffer_elements();
  const int64_t train_checkpoint = 4 * weights + kHeaderAllowance;  // weights + Adam m, v + Muon momentum
  // keep_checkpoints = 0 keeps every one, which no budget bounds: count the usual two.
  const int64_t keep = config.get_int("keep_checkpoints") > 0 ? config.get_int("keep_checkpoints") : 2;
  const int64_t final_model = weights + kHeaderAllowance;
  const int64_t artifact = weights;  // at most fp32; usually a quarter of that
  return (keep + 1) * train_checkpoint + final_model + artifact;
}

void check_disk_budget(const std::filesystem::path& run_dir, const ParamLayout& layout, const Config& config,
                       Logger& log) {
  std::error_code ec;
  const std::filesystem::space_info space = std::filesystem::space(run_dir, ec);
  if (ec) return;
  const int64_t need = run_disk_need_bytes(layout, config);
  const auto available = static_cast<int64_t>(space.available);
  DG_CHECK(available >= need,
           "run folder " << run_dir.string() << ": " << available << " bytes free, but this run writes up to " << need
                         << " (" << config.get_int("keep_checkpoints") << " kept resumable checkpoints + one being "
                         << "written, the final model and the artifact); free some space, lower keep_checkpoints, or "
                            "choose another --out");
  log.log("disk: " + std::to_string(need) + " bytes needed at most, " + std::to_string(available) + " available in " +
              run_dir.string(),
          /*console=*/false);
}

}  // namespace dg
