#include "train/plot_runs.h"

#include <sstream>

#include "core/error.h"
#include "core/gnuplot.h"
#include "train/run_metrics.h"

namespace dg {
namespace fs = std::filesystem;

namespace {

struct Panel {
  const char* title;
  const char* ylabel;
  std::vector<CurvePoint> RunCurves::*series;
  bool points;  // validation is sparse: mark its points
  bool engineering_y;
};

std::string data_text(const std::vector<CurvePoint>& points) {
  std::ostringstream out;
  out.precision(10);
  for (const CurvePoint& p : points) out << p.step << ' ' << p.minutes << ' ' << p.value << '\n';
  return out.str();
}

}  // namespace

void plot_runs(const std::vector<fs::path>& run_dirs, const fs::path& png, const std::string& title) {
  DG_CHECK(!run_dirs.empty(), "plot: give one or more run folders");
  std::vector<RunCurves> runs;
  for (const fs::path& dir : run_dirs) runs.push_back(read_run_curves(dir));
  const std::vector<Panel> panels = {
      {"Training loss", "train loss (nats/token)", &RunCurves::train_loss, false, false},
      {"Validation", "val_bpb (bits/byte)", &RunCurves::val_bpb, true, false},
      {"Throughput", "tokens/s", &RunCurves::tokens_per_second, false, true},
  };
  GnuplotFigure figure;
  figure.width = 1400;
  figure.height = 1200;
  std::ostringstream s;
  std::string heading = title;
  if (heading.empty()) {
    for (const RunCurves& r : runs) heading += (heading.empty() ? "" : ", ") + r.name;
    heading = "dartgolf runs: " + heading;
  }
  s << "set multiplot layout 3,2 title " << gnuplot_quote(heading) << " font ',14'\n"
    << "set grid xtics ytics lc rgb '#d0d0d0' lt 1\nset key top right box opaque\nset border lw 1\n"
    << "set format x '%g'\n";
  for (size_t p = 0; p < panels.size(); ++p) {
    const Panel& panel = panels[p];
    for (int by_time = 0; by_time < 2; ++by_time) {
      s << "set title " << gnuplot_quote(std::string(panel.title) + (by_time ? " against training time" : " against step"))
        << "\nset xlabel " << gnuplot_quote(by_time ? "training time (minutes, validation excluded)" : "step")
        << "\nset ylabel " << gnuplot_quote(panel.ylabel)
        << "\nset format y " << (panel.engineering_y ? "'%.1s%c'" : "'%g'") << "\nset autoscale xy\n";
      std::string plot;
      for (size_t r = 0; r < runs.size(); ++r) {
        const auto& series = runs[r].*panel.series;
        if (series.empty()) continue;
        const std::string file = "run" + std::to_string(r) + "_" + std::to_string(p) + ".dat";
        figure.data[file] = data_text(series);
        plot += (plot.empty() ? "plot " : ", ") + gnuplot_quote(file) + " using " + (by_time ? "2" : "1") + ":3 with " +
                (panel.points ? "linespoints pt 7 ps 0.6" : "lines") + " lw 1.5 lc " + std::to_string(r + 1) +
                " title " + gnuplot_quote(runs[r].name);
      }
      if (plot.empty()) {  // no run has this curve (e.g. no validation yet): an empty, labelled panel
        s << "set xrange [0:1]\nset yrange [0:1]\nset label 1 'no data' at graph 0.5,0.5 center\n"
          << "plot 2 notitle\nunset label 1\nset autoscale xy\n";
      } else {
        s << plot << "\n";
      }
    }
  }
  s << "unset multiplot\n";
  figure.script = s.str();
  render_png(figure, png);
}

}  // namespace dg
