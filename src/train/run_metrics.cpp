#include "train/run_metrics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"

namespace dg {
namespace fs = std::filesystem;

namespace {
// Throughput between records `window` apart: per-step timings are too noisy to read.
std::vector<CurvePoint> throughput(const std::map<int64_t, CurvePoint>& train, int64_t batch_tokens) {
  std::vector<CurvePoint> points, out;
  for (const auto& [step, point] : train) points.push_back(point);
  const size_t window = std::max<size_t>(1, points.size() / 60);
  for (size_t i = window; i < points.size(); i += window) {
    const CurvePoint& a = points[i - window];
    const CurvePoint& b = points[i];
    const double seconds = (b.minutes - a.minutes) * 60.0;
    if (seconds <= 0.0) continue;
    out.push_back({b.step, b.minutes, static_cast<double>((b.step - a.step) * batch_tokens) / seconds});
  }
  return out;
}
}  // namespace

RunCurves read_run_curves(const fs::path& run_dir) {
  const fs::path file = run_dir / "metrics.jsonl";
  std::error_code ec;
  DG_CHECK(fs::is_regular_file(file, ec), run_dir.string() << ": no metrics.jsonl (is it a dartgolf run folder?)");
  const std::string text = read_file_bytes(file);
  RunCurves curves;
  curves.name = fs::absolute(run_dir).lexically_normal().filename().string();
  if (curves.name.empty()) curves.name = fs::absolute(run_dir).lexically_normal().parent_path().filename().string();
  std::map<int64_t, CurvePoint> train, val;
  int64_t batch_tokens = 0;
  std::istringstream lines(text);
  int64_t number = 0;
  for (std::string line; std::getline(lines, line);) {
    ++number;
    if (line.empty()) continue;
    const bool last_unterminated = lines.eof() && !text.empty() && text.back() != '\n';
    const nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
    if (record.is_discarded() && last_unterminated) break;  // cut off mid-write by a kill
    DG_CHECK(record.is_object(), file.string() << ":" << number << ": not a JSON object");
    const std::string event = record.value("event", "");
    if (event == "run_start") {
      train.clear();
      val.clear();
      batch_tokens = record.contains("config") ? record["config"].value("train_batch_tokens", int64_t{0}) : 0;
      continue;
    }
    if (event != "train" && event != "val") continue;
    const int64_t step = record.value("step", int64_t{-1});
    const double minutes = record.value("train_time_ms", 0.0) / 60000.0;
    const double value = record.value(event == "train" ? "train_loss" : "val_bpb", NAN);
    if (step < 0 || !std::isfinite(value)) continue;
    (event == "train" ? train : val)[step] = CurvePoint{step, minutes, value};
  }
  for (const auto& [step, point] : train) curves.train_loss.push_back(point);
  for (const auto& [step, point] : val) curves.val_bpb.push_back(point);
  if (batch_tokens > 0) curves.tokens_per_second = throughput(train, batch_tokens);
  DG_CHECK(!curves.train_loss.empty() || !curves.val_bpb.empty(),
           file.string() << ": no train or val records to plot yet");
  return curves;
}

}  // namespace dg
