// A run's curves read back from its metrics.jsonl (docs/run-folder.md): train loss, val_bpb and
// training throughput, each against step and against training time, for `dartgolf plot`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace dg {

struct CurvePoint {
  int64_t step = 0;
  double minutes = 0.0;  // training time (train_gpt.py's train_time: validation excluded)
  double value = 0.0;
};

struct RunCurves {
  std::string name;  // the run folder's name
  std::vector<CurvePoint> train_loss, val_bpb, tokens_per_second;
};

// The latest attempt in run_dir/metrics.jsonl (records after its last run_start, resumes included;
// a step logged twice keeps its latest record). A truncated last line (a killed run) is ignored; any
// other line that is not a JSON object is an error naming the file and line.
RunCurves read_run_curves(const std::filesystem::path& run_dir);

}  // namespace dg
