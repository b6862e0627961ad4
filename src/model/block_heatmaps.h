// The heatmap PNGs of `dartgolf inspect --blocks`, one set per block, drawn by gnuplot
// (core/gnuplot.h) with a title, labelled axes (loops, streams, groups, heads) and a colour bar
// with its values:
//   daam        <name>.importance.png    Importance Factor, rows = loops, columns = groups, colours 0..1
//   tau_fusion  <name>.tau_mean.png      mean τ, rows = loops, columns = streams
//               <name>.tau_features.png  mean τ per feature, rows = (loop, stream) loop-major,
//                                        columns = features 0..k−1
//   head_gate   <name>.head_gate.png     mean gate, rows = loops, columns = heads
// Mean τ and gate maps stretch their colours over the map's own min..max (recorded as color_min /
// color_max), so small differences show; the IF already spans 0..1. NaN cells are left blank.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/block_statistics.h"

namespace dg {

struct BlockHeatmapFile {
  std::string block;                    // the block's name
  std::filesystem::path path;           // the PNG written
  nlohmann::ordered_json description;  // file, shows, rows, columns, shape, color_min, color_max
};

// Writes every block's heatmaps into `dir` (created if needed), each atomically.
std::vector<BlockHeatmapFile> write_block_heatmaps(const BlockStatistics& stats, const std::filesystem::path& dir);

// {"heatmaps": [description, ...]} per block name, for BlockStatistics::to_json.
std::map<std::string, nlohmann::ordered_json> heatmaps_by_block(const std::vector<BlockHeatmapFile>& files);

}  // namespace dg
