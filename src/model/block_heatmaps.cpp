#include "model/block_heatmaps.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/png.h"
#include "model/heatmap.h"

namespace dg {
namespace {

// Block names are tensor prefixes ("blocks.1.mlp_input.daam"); keep file names to a safe set anyway.
std::string file_stem(const std::string& name) {
  std::string out = name;
  for (char& c : out)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) c = '_';
  return out;
}

// Colours over the data's own range; NaNs (a diverged model) are left out of it and drawn grey.
Heatmap stretched(const BlockMatrix& m) {
  Heatmap map{m.rows, m.cols, m.values, 0.0, 1.0};
  bool any = false;
  for (double v : m.values) {
    if (std::isnan(v)) continue;
    map.color_min = any ? std::min(map.color_min, v) : v;
    map.color_max = any ? std::max(map.color_max, v) : v;
    any = true;
  }
  return map;
}

}  // namespace

std::vector<BlockHeatmapFile> write_block_heatmaps(const BlockStatistics& stats, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  std::vector<BlockHeatmapFile> files;
  const auto emit = [&](const BlockSummary& b, const std::string& kind, const Heatmap& map, const HeatmapLayout& layout,
                        const std::string& shows, const std::string& rows, const std::string& columns) {
    const std::string file = file_stem(b.name) + "." + kind + ".png";
    write_png(dir / file, render_heatmap(map, layout));
    nlohmann::ordered_json d;
    d["file"] = file;
    d["shows"] = shows;
    d["rows"] = rows;
    d["columns"] = columns;
    d["shape"] = {map.rows, map.cols};
    d["color_min"] = map.color_min;
    d["color_max"] = map.color_max;
    files.push_back({b.name, dir / file, std::move(d)});
  };
  for (const BlockSummary& b : stats.blocks()) {
    if (b.uses.empty()) continue;
    const std::string loops = "loops, in the order of \"loops\"";
    if (b.type == "daam") {
      const BlockMatrix factors = b.importance_factors();
      emit(b, "importance", Heatmap{factors.rows, factors.cols, factors.values, 0.0, 1.0}, {},
           "importance factor of the mean density (dark 0, bright 1)", loops, "groups, in the order of \"channels\"");
    } else if (b.type == "tau_fusion") {
      emit(b, "tau_mean", stretched(b.channel_means()), {}, "mean tau over tokens and features", loops,
           "streams, in the order of \"channels\"");
      const BlockMatrix features = b.feature_means();
      if (!features.values.empty()) {
        HeatmapLayout layout;
        layout.row_group = static_cast<int64_t>(b.channels.size());
        emit(b, "tau_features", stretched(features), layout, "mean tau per feature over tokens",
             "(loop, stream) pairs, loop-major: row = loop index × streams + stream; a gap separates loops",
             "features 0..width-1");
      }
    } else {
      const bool gate = b.type == "head_gate";
      emit(b, b.type, stretched(b.channel_means()), {},
           gate ? "mean gate sigma(x W_g^T) over tokens (before the factor gamma)" : "mean value over tokens", loops,
           std::string(gate ? "heads" : "channels") + ", in the order of \"channels\"");
    }
  }
  return files;
}

std::map<std::string, nlohmann::ordered_json> heatmaps_by_block(const std::vector<BlockHeatmapFile>& files) {
  std::map<std::string, nlohmann::ordered_json> out;
  for (const BlockHeatmapFile& f : files) {
    nlohmann::ordered_json& entry = out[f.block];
    if (!entry.contains("heatmaps")) entry["heatmaps"] = nlohmann::ordered_json::array();
    entry["heatmaps"].push_back(f.description);
  }
  return out;
}

}  // namespace dg
