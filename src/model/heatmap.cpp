#include "model/heatmap.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "core/error.h"

namespace dg {
namespace {

// Control points of the ramp, evenly spaced in t. Their CIE lightness rises steadily
// (about 12, 35, 53, 72, 90), so brighter always means larger.
constexpr std::array<Rgb, 5> kRamp{{
    {20, 24, 82},    // dark navy
    {38, 82, 145},   // blue
    {26, 143, 140},  // teal
    {104, 196, 92},  // green
    {250, 230, 50},  // yellow
}};

uint8_t mix(uint8_t a, uint8_t b, double f) {
  return static_cast<uint8_t>(std::lround(static_cast<double>(a) + (static_cast<double>(b) - a) * f));
}

HeatmapLayout resolved(const Heatmap& map, HeatmapLayout layout) {
  if (layout.cell_width <= 0) layout.cell_width = heatmap_cell_size(map.cols, 640);
  if (layout.cell_height <= 0) layout.cell_height = std::max<int64_t>(heatmap_cell_size(map.rows, 480), 8);
  return layout;
}

int64_t group_gaps_before(const HeatmapLayout& layout, int64_t row) {
  return layout.row_group > 0 ? row / layout.row_group : 0;
}

}  // namespace

Rgb heatmap_color(double t) {
  if (std::isnan(t)) return kHeatmapMissing;
  t = std::clamp(t, 0.0, 1.0);
  const double position = t * static_cast<double>(kRamp.size() - 1);
  const size_t lo = std::min(static_cast<size_t>(position), kRamp.size() - 2);
  const double f = position - static_cast<double>(lo);
  return {mix(kRamp[lo].r, kRamp[lo + 1].r, f), mix(kRamp[lo].g, kRamp[lo + 1].g, f),
          mix(kRamp[lo].b, kRamp[lo + 1].b, f)};
}

int64_t heatmap_cell_size(int64_t count, int64_t target_px) {
  if (count <= 0) return 48;
  return std::clamp<int64_t>(target_px / count, 2, 48);
}

CellRect heatmap_cell(const Heatmap& map, const HeatmapLayout& requested, int64_t row, int64_t col) {
  DG_CHECK(row >= 0 && row < map.rows && col >= 0 && col < map.cols,
           "heatmap cell (" << row << ", " << col << ") is outside " << map.rows << "×" << map.cols);
  const HeatmapLayout layout = resolved(map, requested);
  return {layout.margin + col * layout.cell_width,
          layout.margin + row * layout.cell_height + group_gaps_before(layout, row) * layout.gap, layout.cell_width,
          layout.cell_height};
}

RgbImage render_heatmap(const Heatmap& map, const HeatmapLayout& requested) {
  DG_CHECK(map.rows > 0 && map.cols > 0, "heatmap needs at least one row and one column, got " << map.rows << "×"
                                                                                              << map.cols);
  DG_CHECK(static_cast<int64_t>(map.values.size()) == map.rows * map.cols,
           "heatmap of " << map.rows << "×" << map.cols << " got " << map.values.size() << " values");
  const HeatmapLayout layout = resolved(map, requested);
  const int64_t map_width = map.cols * layout.cell_width;
  const int64_t map_height = map.rows * layout.cell_height + group_gaps_before(layout, map.rows - 1) * layout.gap;
  const int64_t width = map_width + 2 * layout.margin;
  const int64_t height = map_height + layout.gap + layout.colorbar_height + 2 * layout.margin;
  RgbImage image(width, height, kHeatmapBackground);

  const double range = map.color_max - map.color_min;
  for (int64_t r = 0; r < map.rows; ++r) {
    for (int64_t c = 0; c < map.cols; ++c) {
      const double v = map.values[static_cast<size_t>(r * map.cols + c)];
      const double t = range > 0.0 ? (v - map.color_min) / range : (std::isnan(v) ? v : 0.5);
      const CellRect cell = heatmap_cell(map, layout, r, c);
      image.fill_rect(cell.x, cell.y, cell.width, cell.height, heatmap_color(t));
    }
  }
  // Colour bar: the ramp from color_min (left) to color_max (right), as wide as the map.
  const int64_t bar_y = layout.margin + map_height + layout.gap;
  for (int64_t x = 0; x < map_width; ++x) {
    const double t = map_width > 1 ? static_cast<double>(x) / static_cast<double>(map_width - 1) : 0.5;
    image.fill_rect(layout.margin + x, bar_y, 1, layout.colorbar_height, heatmap_color(t));
  }
  return image;
}

}  // namespace dg
