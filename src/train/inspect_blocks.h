// `dartgolf inspect --blocks CHECKPOINT`: runs the checkpoint's model in evaluation mode over the
// validation split (train/evaluate.h, unchanged), collects every pluggable-block observation after
// each forward into BlockStatistics, and writes blocks.json plus heatmap PNGs (docs/blocks.md,
// "Interpretability").
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "model/block_heatmaps.h"
#include "model/block_statistics.h"
#include "train/evaluate.h"

namespace dg {

struct InspectBlocksRequest {
  std::filesystem::path checkpoint;
  std::filesystem::path data_dir;   // empty: the run's data_path
  std::filesystem::path tokenizer;  // empty: the run's tokenizer_path
  std::filesystem::path out_dir;    // empty: <checkpoint's folder>/blocks
  int64_t max_tokens = 0;           // > 0: only the first N validation targets (whole sequences)
};

struct InspectBlocksResult {
  std::filesystem::path out_dir, json_file;
  std::vector<BlockHeatmapFile> heatmaps;
  BlockStatistics stats;
  EvalResult eval;  // the same forwards' val_loss / val_bpb
  int64_t step = 0;
};

// Throws dg::Error for a checkpoint whose model has no blocks (saying how to enable them), a data
// folder that does not exist, and everything load_checkpoint / load_eval_data reject.
InspectBlocksResult inspect_blocks(const InspectBlocksRequest& request);

// The human summary: where the files went, then BlockStatistics::summary_text().
std::string inspect_blocks_report(const InspectBlocksResult& result);

}  // namespace dg
