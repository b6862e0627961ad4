// Statistics of pluggable-block observations (model/block_observation.h), accumulated forward
// after forward: what `dartgolf inspect --blocks` reports over the validation tokens and what
// training logs of τ every train_log_every steps.
//
// Per block (its name) and use (loop), per channel (τ's stream, DAAM's group, the gate's head):
// mean, population std, min and max over every observed value (each token's `width` values count
// once each, so batches weigh by their tokens). For τ-fusion also the mean of each feature over
// tokens (k values per stream). Derived matrices, rows = the block's loops in ascending order:
// channel means (loops × channels) and, for DAAM, the seed's Importance Factor of those means
// normalised over the whole matrix, IF = (DA − min) / (max − min) (docs/blocks.md).
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/block_observation.h"

namespace dg {

// Count, mean, sum of squared deviations (Chan et al.'s pairwise merge, stable over many batches),
// min and max.
struct RunningStats {
  int64_t count = 0;
  double mean = 0.0, m2 = 0.0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();

  void add(std::span<const float> values);
  void merge(const RunningStats& other);
  double stddev() const;  // population standard deviation; 0 when count is 0
};

struct BlockUse {
  int64_t loop = 0;
  int64_t tokens = 0;
  std::vector<RunningStats> channels;        // one per channel
  std::vector<std::vector<double>> feature_sums;  // τ-fusion only: [channel][feature], summed over tokens
  std::vector<double> feature_means(size_t channel) const;
};

// A row-major rows × cols matrix of doubles.
struct BlockMatrix {
  int64_t rows = 0, cols = 0;
  std::vector<double> values;
  double at(int64_t r, int64_t c) const { return values[static_cast<size_t>(r * cols + c)]; }
};

struct BlockSummary {
  std::string name, type, site;
  int64_t block = -1;
  std::vector<std::string> channels;
  int64_t width = 0;
  std::map<int64_t, BlockUse> uses;  // by loop

  std::vector<int64_t> loops() const;
  int64_t tokens() const;                      // summed over uses
  BlockMatrix channel_means() const;           // loops × channels
  BlockMatrix importance_factors() const;      // DAAM: IF of channel_means over the whole matrix
  BlockMatrix feature_means() const;           // τ-fusion: (loop, channel) rows loop-major × width
};

class BlockStatistics {
 public:
  // One forward's observations (counted in forwards()). Throws dg::Error naming the block when an
  // observation's values do not match its shape, or when a block changes type, site, channels or
  // width between calls.
  void add_forward(const std::vector<BlockObservation>& observations);
  // One observation on its own (not counted as a forward).
  void add(const BlockObservation& observation);

  bool empty() const { return blocks_.empty(); }
  int64_t forwards() const { return forwards_; }
  const std::vector<BlockSummary>& blocks() const { return blocks_; }  // in order of first appearance
  const BlockSummary* find(const std::string& name) const;

  // The documented structure (docs/blocks.md, "Interpretability"). `extra_per_block` adds keys to
  // a block's object by block name (e.g. its heatmap files).
  nlohmann::ordered_json to_json(const std::map<std::string, nlohmann::ordered_json>& extra_per_block = {}) const;
  // A few lines per block for a person: mean τ per stream per loop, DAAM's density and IF ranges,
  // the head gate's range, each with where the extremes are.
  std::string summary_text() const;

 private:
  std::vector<BlockSummary> blocks_;
  int64_t forwards_ = 0;
};

// "x=0.512,x0=0.488,skip=0.500": each channel's mean with three decimals.
std::string format_channel_means(const std::vector<std::string>& channels, const std::vector<double>& means);

// What training logs of τ at a train-log step, from one forward's observations: per τ-fusion block
// a line "tau NAME loop0:x=0.512,x0=0.488 loop1:..." and per use a metrics record
// {"event":"tau","step":S,"name":NAME,"loop":L,"mean":{stream:value}}. Empty without τ blocks.
struct TauLog {
  std::vector<std::string> lines;
  std::vector<nlohmann::json> records;
};
TauLog tau_log(const std::vector<BlockObservation>& observations, int64_t step);

}  // namespace dg
