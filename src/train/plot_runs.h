// `dartgolf plot`: several runs' curves overlaid in one PNG, drawn by gnuplot. Six panels: train
// loss, val_bpb and throughput, each against step (left) and against training time (right); every
// panel titled, with labelled axes and units, gridlines and a legend naming each run by its folder.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace dg {

// Throws naming the run folder whose metrics cannot be read, or what gnuplot said.
void plot_runs(const std::vector<std::filesystem::path>& run_dirs, const std::filesystem::path& png,
               const std::string& title);

}  // namespace dg
