// Pictures through gnuplot (Debian's gnuplot-nox, its pngcairo terminal): dartgolf writes the data
// and a script, gnuplot draws titles, labelled axes, legends, grids and colour bars far better than
// a hand-written rasteriser could. Used by `dartgolf plot` and the `inspect --blocks` heatmaps.
#pragma once

#include <filesystem>
#include <map>
#include <string>

namespace dg {

// The gnuplot executable (GNUPLOT, else `gnuplot` on PATH), or "" with the reason in `why`.
std::string find_gnuplot(std::string* why = nullptr);

// A string literal for a gnuplot script: single-quoted, inner quotes doubled.
std::string gnuplot_quote(const std::string& text);

struct GnuplotFigure {
  int width = 1200, height = 900;          // pixels
  std::string script;                       // everything after the terminal and output lines; text is
                                            // literal (noenhanced: "val_bpb" keeps its underscore)
  std::map<std::string, std::string> data;  // data files the script reads, by name (it runs in their folder)
};

// Renders `figure` to `png` (written atomically). Throws naming gnuplot's own message when it fails,
// and saying how to install it when it is missing.
void render_png(const GnuplotFigure& figure, const std::filesystem::path& png);

}  // namespace dg
