// Heatmaps of a rows × columns matrix as RGB images: every value becomes a cell of solid colour
// from a dark-blue → teal → green → yellow ramp (dark = low, bright = high; lightness rises
// monotonically, so the order reads the same in greyscale), with a colour bar underneath that runs
// from the low end (left) to the high end (right). No text: what the rows, columns and colour range
// mean is written next to each image's file name in blocks.json.
#pragma once

#include <cstdint>
#include <vector>

#include "core/png.h"

namespace dg {

// The ramp at t ∈ [0, 1] (clamped); a NaN value gets a neutral grey so it cannot pass for data.
Rgb heatmap_color(double t);
inline constexpr Rgb kHeatmapMissing{128, 128, 128};

struct HeatmapLayout {
  int64_t cell_width = 0, cell_height = 0;  // 0: chosen so the map is readable (heatmap_cell_size)
  int64_t row_group = 0;     // > 0: a gap line after every row_group rows (e.g. one group per loop)
  int64_t margin = 4;        // background border around everything
  int64_t gap = 2;           // the group gap and the space above the colour bar
  int64_t colorbar_height = 10;
};
inline constexpr Rgb kHeatmapBackground{255, 255, 255};

// Cell sizes: about 640 px across and 32–480 px down, cells between 2 and 48 px on a side.
int64_t heatmap_cell_size(int64_t count, int64_t target_px);

struct Heatmap {
  int64_t rows = 0, cols = 0;
  std::vector<double> values;  // rows × cols, row-major
  double color_min = 0.0, color_max = 1.0;  // values mapped to the ramp's ends (equal: all mid-ramp)
};

// The pixel rectangle of cell (row, col) in render_heatmap's image: its top-left corner and size.
struct CellRect {
  int64_t x = 0, y = 0, width = 0, height = 0;
};
CellRect heatmap_cell(const Heatmap& map, const HeatmapLayout& layout, int64_t row, int64_t col);

RgbImage render_heatmap(const Heatmap& map, const HeatmapLayout& layout = {});

}  // namespace dg
