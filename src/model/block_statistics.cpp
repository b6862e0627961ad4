#include "model/block_statistics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "model/blocks/daam.h"

namespace dg {
namespace {

std::string fmt(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? separator : "") + parts[i];
  return out;
}

// Where a matrix (rows = loops) holds its largest and smallest value, as "loop2/group1".
struct Extremes {
  std::string highest, lowest;
  double hi = 0.0, lo = 0.0;
};
Extremes extremes(const BlockMatrix& m, const std::vector<int64_t>& loops, const std::vector<std::string>& channels) {
  Extremes e;
  size_t hi = 0, lo = 0;
  for (size_t i = 1; i < m.values.size(); ++i) {
    if (m.values[i] > m.values[hi]) hi = i;
    if (m.values[i] < m.values[lo]) lo = i;
  }
  const auto where = [&](size_t i) {
    const auto r = static_cast<size_t>(static_cast<int64_t>(i) / m.cols), c = static_cast<size_t>(static_cast<int64_t>(i) % m.cols);
    return "loop" + std::to_string(loops[r]) + "/" + channels[c];
  };
  e.highest = where(hi);
  e.lowest = where(lo);
  e.hi = m.values[hi];
  e.lo = m.values[lo];
  return e;
}

nlohmann::ordered_json matrix_json(const BlockMatrix& m) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (int64_t r = 0; r < m.rows; ++r) {
    nlohmann::ordered_json row = nlohmann::ordered_json::array();
    for (int64_t c = 0; c < m.cols; ++c) row.push_back(m.at(r, c));
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

// ---- RunningStats ----

void RunningStats::add(std::span<const float> values) {
  if (values.empty()) return;
  RunningStats batch;
  double sum = 0.0;
  for (float v : values) {
    sum += v;
    batch.min = std::min(batch.min, static_cast<double>(v));
    batch.max = std::max(batch.max, static_cast<double>(v));
  }
  batch.count = static_cast<int64_t>(values.size());
  batch.mean = sum / static_cast<double>(batch.count);
  for (float v : values) batch.m2 += (v - batch.mean) * (v - batch.mean);
  merge(batch);
}

void RunningStats::merge(const RunningStats& other) {
  if (other.count == 0) return;
  if (count == 0) {
    *this = other;
    return;
  }
  const double n = static_cast<double>(count), m = static_cast<double>(other.count);
  const double delta = other.mean - mean;
  mean += delta * m / (n + m);
  m2 += other.m2 + delta * delta * n * m / (n + m);
  count += other.count;
  min = std::min(min, other.min);
  max = std::max(max, other.max);
}

double RunningStats::stddev() const { return count > 0 ? std::sqrt(std::max(m2, 0.0) / static_cast<double>(count)) : 0.0; }

// ---- BlockUse / BlockSummary ----

std::vector<double> BlockUse::feature_means(size_t channel) const {
  std::vector<double> out = feature_sums.at(channel);
  for (double& v : out) v /= static_cast<double>(std::max<int64_t>(tokens, 1));
  return out;
}

std::vector<int64_t> BlockSummary::loops() const {
  std::vector<int64_t> out;
  for (const auto& [loop, use] : uses) out.push_back(loop);
  return out;
}

int64_t BlockSummary::tokens() const {
  int64_t total = 0;
  for (const auto& [loop, use] : uses) total += use.tokens;
  return total;
}

BlockMatrix BlockSummary::channel_means() const {
  BlockMatrix m{static_cast<int64_t>(uses.size()), static_cast<int64_t>(channels.size()), {}};
  for (const auto& [loop, use] : uses)
    for (const RunningStats& s : use.channels) m.values.push_back(s.mean);
  return m;
}

BlockMatrix BlockSummary::importance_factors() const {
  BlockMatrix m = channel_means();
  m.values = blocks::importance_factors(m.values);
  return m;
}

BlockMatrix BlockSummary::feature_means() const {
  BlockMatrix m{static_cast<int64_t>(uses.size() * channels.size()), width, {}};
  for (const auto& [loop, use] : uses) {
    if (use.feature_sums.empty()) return {};
    for (size_t c = 0; c < channels.size(); ++c) {
      const std::vector<double> means = use.feature_means(c);
      m.values.insert(m.values.end(), means.begin(), means.end());
    }
  }
  return m;
}

// ---- BlockStatistics ----

const BlockSummary* BlockStatistics::find(const std::string& name) const {
  for (const BlockSummary& b : blocks_)
    if (b.name == name) return &b;
  return nullptr;
}

void BlockStatistics::add_forward(const std::vector<BlockObservation>& observations) {
  for (const BlockObservation& o : observations) add(o);
  ++forwards_;
}

void BlockStatistics::add(const BlockObservation& o) {
  const int64_t channels = static_cast<int64_t>(o.channels.size());
  DG_CHECK(channels > 0 && o.width > 0 && o.tokens >= 0,
           "block observation " << o.name << " (loop " << o.loop << "): needs channels and a positive width, got "
                                << channels << " channels of width " << o.width << " over " << o.tokens << " tokens");
  DG_CHECK(static_cast<int64_t>(o.values.size()) == channels * o.tokens * o.width,
           "block observation " << o.name << " (loop " << o.loop << "): " << o.values.size() << " values, expected "
                                << channels << " channels × " << o.tokens << " tokens × " << o.width);
  BlockSummary* block = nullptr;
  for (BlockSummary& b : blocks_)
    if (b.name == o.name) block = &b;
  if (block == nullptr) {
    blocks_.push_back(BlockSummary{o.name, o.type, o.site, o.block, o.channels, o.width, {}});
    block = &blocks_.back();
  }
  DG_CHECK(block->type == o.type && block->site == o.site && block->channels == o.channels && block->width == o.width,
           "block observation " << o.name << " (loop " << o.loop << ") changed shape: was " << block->type << " at "
                                << block->site << " with " << block->channels.size() << " channels of width "
                                << block->width << ", now " << o.type << " at " << o.site << " with " << channels
                                << " of width " << o.width);
  if (o.tokens == 0) return;

  BlockUse& use = block->uses[o.loop];
  use.loop = o.loop;
  use.channels.resize(static_cast<size_t>(channels));
  const bool per_feature = o.type == "tau_fusion";
  if (per_feature) use.feature_sums.resize(static_cast<size_t>(channels), std::vector<double>(static_cast<size_t>(o.width)));
  const size_t per_channel = static_cast<size_t>(o.tokens * o.width);
  for (size_t c = 0; c < static_cast<size_t>(channels); ++c) {
    const std::span<const float> values(o.values.data() + c * per_channel, per_channel);
    use.channels[c].add(values);
    if (!per_feature) continue;
    std::vector<double>& sums = use.feature_sums[c];
    for (size_t i = 0; i < values.size(); ++i) sums[i % static_cast<size_t>(o.width)] += values[i];
  }
  use.tokens += o.tokens;
}

nlohmann::ordered_json BlockStatistics::to_json(const std::map<std::string, nlohmann::ordered_json>& extra_per_block) const {
  nlohmann::ordered_json blocks = nlohmann::ordered_json::array();
  for (const BlockSummary& b : blocks_) {
    nlohmann::ordered_json j;
    j["name"] = b.name;
    j["type"] = b.type;
    j["site"] = b.site;
    j["block"] = b.block;
    j["channels"] = b.channels;
    j["width"] = b.width;
    j["loops"] = b.loops();
    j["tokens"] = b.tokens();
    nlohmann::ordered_json uses = nlohmann::ordered_json::array();
    for (const auto& [loop, use] : b.uses) {
      nlohmann::ordered_json u;
      u["loop"] = loop;
      u["tokens"] = use.tokens;
      nlohmann::ordered_json stats = nlohmann::ordered_json::array();
      for (size_t c = 0; c < use.channels.size(); ++c) {
        const RunningStats& s = use.channels[c];
        stats.push_back({{"channel", b.channels[c]}, {"mean", s.mean}, {"std", s.stddev()}, {"min", s.min}, {"max", s.max}});
      }
      u["channels"] = std::move(stats);
      if (!use.feature_sums.empty()) {
        nlohmann::ordered_json features = nlohmann::ordered_json::array();
        for (size_t c = 0; c < use.channels.size(); ++c) features.push_back(use.feature_means(c));
        u["feature_mean"] = std::move(features);
      }
      uses.push_back(std::move(u));
    }
    j["uses"] = std::move(uses);
    j["mean"] = matrix_json(b.channel_means());
    if (b.type == "daam") j["importance_factors"] = matrix_json(b.importance_factors());
    if (const auto it = extra_per_block.find(b.name); it != extra_per_block.end())
      for (const auto& [key, value] : it->second.items()) j[key] = value;
    blocks.push_back(std::move(j));
  }
  nlohmann::ordered_json out;
  out["format"] = "dartgolf-block-statistics-1";
  out["forwards"] = forwards_;
  out["blocks"] = std::move(blocks);
  return out;
}

std::string BlockStatistics::summary_text() const {
  std::ostringstream out;
  for (const BlockSummary& b : blocks_) {
    const std::vector<int64_t> loops = b.loops();
    const std::string unit = b.type == "tau_fusion" ? "streams" : b.type == "daam" ? "groups" : "heads";
    out << b.name << " (" << b.type << " at " << b.site << ", " << b.channels.size() << " " << unit;
    if (b.type == "tau_fusion") out << " × " << b.width << " features";
    out << ", " << loops.size() << (loops.size() == 1 ? " use" : " uses") << ")\n";
    if (loops.empty()) {
      out << "  (no tokens observed)\n";
      continue;
    }
    const BlockMatrix means = b.channel_means();
    if (b.type == "tau_fusion") {
      for (int64_t r = 0; r < means.rows; ++r) {
        const std::vector<double> row(means.values.begin() + r * means.cols, means.values.begin() + (r + 1) * means.cols);
        out << "  mean tau loop" << loops[static_cast<size_t>(r)] << ": " << format_channel_means(b.channels, row) << "\n";
      }
      continue;
    }
    const Extremes e = extremes(means, loops, b.channels);
    const std::string what = b.type == "daam" ? "density" : "gate";
    out << "  mean " << what << " " << fmt(e.lo, 4) << ".." << fmt(e.hi, 4) << " (highest " << e.highest << ", lowest "
        << e.lowest << ")\n";
    if (b.type == "daam") {
      const BlockMatrix factors = b.importance_factors();
      const auto [lo, hi] = std::minmax_element(factors.values.begin(), factors.values.end());
      out << "  importance factor " << fmt(*lo, 3) << ".." << fmt(*hi, 3)
          << (*hi > *lo ? "" : " (every group's mean density is equal)") << "\n";
    }
  }
  return out.str();
}

std::string format_channel_means(const std::vector<std::string>& channels, const std::vector<double>& means) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < channels.size() && i < means.size(); ++i) parts.push_back(channels[i] + "=" + fmt(means[i], 3));
  return join(parts, ",");
}

TauLog tau_log(const std::vector<BlockObservation>& observations, int64_t step) {
  BlockStatistics stats;
  for (const BlockObservation& o : observations)
    if (o.type == "tau_fusion") stats.add(o);
  TauLog log;
  for (const BlockSummary& b : stats.blocks()) {
    std::string line = "tau " + b.name;
    for (const auto& [loop, use] : b.uses) {
      std::vector<double> means;
      nlohmann::json per_stream = nlohmann::json::object();
      for (size_t c = 0; c < use.channels.size(); ++c) {
        means.push_back(use.channels[c].mean);
        per_stream[b.channels[c]] = use.channels[c].mean;
      }
      line += " loop" + std::to_string(loop) + ":" + format_channel_means(b.channels, means);
      log.records.push_back({{"event", "tau"}, {"step", step}, {"name", b.name}, {"loop", loop}, {"mean", per_stream}});
    }
    log.lines.push_back(std::move(line));
  }
  return log;
}

}  // namespace dg
