#include "train/muon_shards.h"

#include <algorithm>

#include "core/error.h"

namespace dg {

MuonShards MuonShards::plan(const ParamLayout& layout, int world_size) {
  DG_CHECK(world_size >= 1, "Muon shards: world size " << world_size << " must be >= 1");
  MuonShards shards;
  shards.world_size = world_size;
  std::vector<int64_t> used(static_cast<size_t>(world_size), 0);
  int index = 0;
  for (const ParamSpec& spec : layout.specs()) {
    if (spec.group != OptimGroup::Matrix) continue;
    DG_CHECK(spec.shape.size() == 2, "Muon parameter " << spec.name << " is not a matrix");
    const int owner = index++ % world_size;
    int64_t& fill = used[static_cast<size_t>(owner)];
    shards.matrices.push_back({&spec, owner, fill});
    fill += (spec.numel() + 63) / 64 * 64;  // keeps every update 256-byte aligned, as the layout does
  }
  shards.block_elements = *std::max_element(used.begin(), used.end());
  return shards;
}

}  // namespace dg
