#include "model/block_heatmaps.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "core/gnuplot.h"

namespace dg {
namespace {

// Block names are tensor prefixes ("blocks.1.mlp_input.daam"); keep file names to a safe set anyway.
std::string file_stem(const std::string& name) {
  std::string out = name;
  for (char& c : out)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) c = '_';
  return out;
}

struct Map {
  BlockMatrix matrix;
  double color_min = 0.0, color_max = 1.0;
  std::vector<std::string> row_labels, column_labels;  // empty: numbered
};

// Colours over the data's own range; NaNs (a diverged model) are left out of it and drawn as gaps.
Map stretched(const BlockMatrix& m) {
  Map map{m, 0.0, 1.0, {}, {}};
  bool any = false;
  for (double v : m.values) {
    if (std::isnan(v)) continue;
    map.color_min = any ? std::min(map.color_min, v) : v;
    map.color_max = any ? std::max(map.color_max, v) : v;
    any = true;
  }
  if (map.color_max <= map.color_min) map.color_max = map.color_min + 1e-6;  // a flat map still has a scale
  return map;
}

std::string tics(const std::vector<std::string>& labels, int64_t count) {
  // At most ~32 labelled ticks: beyond that gnuplot's own numbering reads better.
  if (labels.empty() || count > 32) return "";
  std::string out = "(";
  for (int64_t i = 0; i < count; ++i)
    out += (i ? ", " : "") + gnuplot_quote(labels[static_cast<size_t>(i)]) + " " + std::to_string(i);
  return out + ")";
}

// A titled heatmap with labelled axes and a colour bar with values, on a dark-to-bright ramp whose
// lightness rises monotonically (it reads the same in greyscale).
GnuplotFigure heatmap_figure(const Map& map, const std::string& title, const std::string& rows,
                             const std::string& columns, const std::string& value) {
  const BlockMatrix& m = map.matrix;
  std::ostringstream data;
  data.precision(9);
  for (int64_t r = 0; r < m.rows; ++r) {
    for (int64_t c = 0; c < m.cols; ++c) {
      const double v = m.values[static_cast<size_t>(r * m.cols + c)];
      data << (c ? " " : "") << (std::isnan(v) ? std::string("NaN") : std::to_string(v));
    }
    data << '\n';
  }
  GnuplotFigure f;
  f.width = static_cast<int>(std::clamp<int64_t>(240 + 28 * m.cols, 640, 1600));
  f.height = static_cast<int>(std::clamp<int64_t>(200 + 28 * m.rows, 360, 1200));
  std::ostringstream s;
  s << "set title " << gnuplot_quote(title) << "\n"
    << "set xlabel " << gnuplot_quote(columns) << "\nset ylabel " << gnuplot_quote(rows) << "\n"
    << "set cblabel " << gnuplot_quote(value) << " offset char 2,0\n"
    << "set cbrange [" << map.color_min << ":" << map.color_max << "]\n"
    << "set palette defined (0 '#141852', 0.35 '#1f7a8c', 0.7 '#4cb944', 1 '#fae632')\n"
    << "set xrange [-0.5:" << m.cols - 0.5 << "]\nset yrange [" << m.rows - 0.5 << ":-0.5]\n"
    << "set tics out nomirror\nset format cb '%.3g'\n";
  const std::string xt = tics(map.column_labels, m.cols), yt = tics(map.row_labels, m.rows);
  if (!xt.empty()) s << "set xtics " << xt << " rotate by -30\n";
  if (!yt.empty()) s << "set ytics " << yt << "\n";
  s << "plot 'map.dat' matrix with image notitle\n";
  f.script = s.str();
  f.data["map.dat"] = data.str();
  return f;
}

std::vector<std::string> loop_labels(const BlockSummary& b) {
  std::vector<std::string> out;
  for (int64_t loop : b.loops()) out.push_back("loop " + std::to_string(loop));
  return out;
}

}  // namespace

std::vector<BlockHeatmapFile> write_block_heatmaps(const BlockStatistics& stats, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  std::vector<BlockHeatmapFile> files;
  const auto emit = [&](const BlockSummary& b, const std::string& kind, const Map& map, const std::string& shows,
                        const std::string& rows, const std::string& columns) {
    const std::string file = file_stem(b.name) + "." + kind + ".png";
    render_png(heatmap_figure(map, b.name + ": " + shows, rows, columns, shows), dir / file);
    nlohmann::ordered_json d;
    d["file"] = file;
    d["shows"] = shows;
    d["rows"] = rows;
    d["columns"] = columns;
    d["shape"] = {map.matrix.rows, map.matrix.cols};
    d["color_min"] = map.color_min;
    d["color_max"] = map.color_max;
    files.push_back({b.name, dir / file, std::move(d)});
  };
  for (const BlockSummary& b : stats.blocks()) {
    if (b.uses.empty()) continue;
    const std::vector<std::string> loops = loop_labels(b);
    if (b.type == "daam") {
      Map factors{b.importance_factors(), 0.0, 1.0, loops, b.channels};
      emit(b, "importance", factors, "importance factor of the mean density (0..1)", "loop", "group");
    } else if (b.type == "tau_fusion") {
      Map mean = stretched(b.channel_means());
      mean.row_labels = loops;
      mean.column_labels = b.channels;
      emit(b, "tau_mean", mean, "mean tau over tokens and features", "loop", "stream");
      const BlockMatrix features = b.feature_means();
      if (!features.values.empty()) {
        Map per_feature = stretched(features);
        for (const std::string& loop : loops)
          for (const std::string& stream : b.channels) per_feature.row_labels.push_back(loop + " " + stream);
        emit(b, "tau_features", per_feature, "mean tau per feature over tokens",
             "(loop, stream), loop-major: row = loop index x streams + stream", "feature");
      }
    } else {
      const bool gate = b.type == "head_gate";
      Map mean = stretched(b.channel_means());
      mean.row_labels = loops;
      mean.column_labels = b.channels;
      emit(b, b.type, mean, gate ? "mean gate sigma(x W_g^T) over tokens (before the factor gamma)" : "mean value over tokens",
           "loop", gate ? "head" : "channel");
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
