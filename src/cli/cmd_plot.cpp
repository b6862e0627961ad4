// `dartgolf plot RUNDIR... --out FILE.png`: training curves of one or more runs, overlaid.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "train/plot_runs.h"

namespace dg::cli {

void add_plot_command(CLI::App& app, Runner& run) {
  struct Options {
    std::vector<std::string> runs;
    std::string out, title;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "plot", "Draw train loss, val_bpb and tokens/s against step and training time for runs, overlaid (gnuplot)");
  cmd->add_option("runs", options->runs, "Run folders (each holding metrics.jsonl)")->required();
  cmd->add_option("--out", options->out, "PNG file to write")->required();
  cmd->add_option("--title", options->title, "Figure title (default: the run names)");
  cmd->callback([&run, options]() {
    run = [options]() {
      std::vector<std::filesystem::path> dirs(options->runs.begin(), options->runs.end());
      plot_runs(dirs, options->out, options->title);
      std::printf("wrote %s (%zu run%s)\n", options->out.c_str(), dirs.size(), dirs.size() == 1 ? "" : "s");
      return kExitOk;
    };
  });
}

}  // namespace dg::cli
