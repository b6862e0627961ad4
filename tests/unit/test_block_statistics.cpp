// BlockStatistics over synthetic observations: per-channel mean/std/min/max across batches, τ's
// per-feature means, the DAAM Importance Factor normalised over each block's loops × groups matrix,
// the JSON structure, the heatmap files, and the τ training-log line.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "core/error.h"
#include "model/block_heatmaps.h"
#include "model/block_statistics.h"
#include "core/gnuplot.h"
#include "test_support.h"

namespace dg {
namespace {

// values [channels, tokens, width] from f(channel, token, feature).
template <typename F>
BlockObservation observation(const std::string& type, const std::string& name, int64_t loop,
                             std::vector<std::string> channels, int64_t tokens, int64_t width, F f) {
  BlockObservation o;
  o.type = type;
  o.site = type == "tau_fusion" ? "loop_input" : type == "daam" ? "mlp_input" : "attn_output";
  o.name = name;
  o.block = 0;
  o.loop = loop;
  o.channels = std::move(channels);
  o.tokens = tokens;
  o.width = width;
  for (size_t c = 0; c < o.channels.size(); ++c)
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t k = 0; k < width; ++k) o.values.push_back(f(static_cast<int64_t>(c), t, k));
  return o;
}

// Direct population statistics of a list, to compare the running merge against.
struct Direct {
  double mean = 0, std = 0, min = 0, max = 0;
};
Direct direct(const std::vector<double>& v) {
  Direct d;
  d.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  for (double x : v) d.std += (x - d.mean) * (x - d.mean);
  d.std = std::sqrt(d.std / static_cast<double>(v.size()));
  d.min = *std::min_element(v.begin(), v.end());
  d.max = *std::max_element(v.begin(), v.end());
  return d;
}

TEST(BlockStatistics, ChannelStatisticsMergeBatchesWeightedByTokens) {
  // Two batches of different sizes for the same use: 3 tokens then 5, width 2.
  const auto f1 = [](int64_t c, int64_t t, int64_t k) { return static_cast<float>(0.1 * c + 0.03 * t * t - 0.2 * k); };
  const auto f2 = [](int64_t c, int64_t t, int64_t k) { return static_cast<float>(1.5 - 0.07 * t + 0.4 * c * k); };
  BlockStatistics stats;
  stats.add_forward({observation("tau_fusion", "tau", 1, {"x", "x0"}, 3, 2, f1)});
  stats.add_forward({observation("tau_fusion", "tau", 1, {"x", "x0"}, 5, 2, f2)});
  EXPECT_EQ(stats.forwards(), 2);
  const BlockSummary* b = stats.find("tau");
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->uses.size(), 1u);
  const BlockUse& use = b->uses.at(1);
  EXPECT_EQ(use.tokens, 8);
  for (int64_t c = 0; c < 2; ++c) {
    std::vector<double> all;
    std::vector<double> feature0;
    for (int64_t t = 0; t < 3; ++t)
      for (int64_t k = 0; k < 2; ++k) {
        all.push_back(static_cast<float>(f1(c, t, k)));
        if (k == 0) feature0.push_back(static_cast<float>(f1(c, t, k)));
      }
    for (int64_t t = 0; t < 5; ++t)
      for (int64_t k = 0; k < 2; ++k) {
        all.push_back(static_cast<float>(f2(c, t, k)));
        if (k == 0) feature0.push_back(static_cast<float>(f2(c, t, k)));
      }
    const Direct d = direct(all);
    const RunningStats& s = use.channels[static_cast<size_t>(c)];
    EXPECT_EQ(s.count, 16);
    EXPECT_NEAR(s.mean, d.mean, 1e-12);
    EXPECT_NEAR(s.stddev(), d.std, 1e-12);
    EXPECT_EQ(s.min, d.min);
    EXPECT_EQ(s.max, d.max);
    EXPECT_NEAR(use.feature_means(static_cast<size_t>(c))[0], direct(feature0).mean, 1e-12);
  }
}

TEST(BlockStatistics, ImportanceFactorsNormaliseEachDaamBlockOverLoopsAndGroups) {
  BlockStatistics stats;
  // Block A: mean density of (loop l, group g) = 0.2 + 0.1·l + 0.05·g over 4 tokens (± a token
  // spread that averages out), loops added out of order.
  for (int64_t loop : {2, 0, 1})
    stats.add_forward({observation("daam", "A", loop, {"group0", "group1", "group2"}, 4, 1, [&](int64_t g, int64_t t, int64_t) {
      return static_cast<float>(0.2 + 0.1 * static_cast<double>(loop) + 0.05 * static_cast<double>(g) +
                                (t % 2 == 0 ? 0.01 : -0.01));
    })});
  // Block B: a different range entirely; its IF must not depend on A's.
  for (int64_t loop : {0, 1})
    stats.add_forward({observation("daam", "B", loop, {"group0", "group1"}, 2, 1,
                           [&](int64_t g, int64_t, int64_t) { return static_cast<float>(5.0 + loop * 3.0 - g); })});
  const BlockSummary& a = *stats.find("A");
  EXPECT_EQ(a.loops(), (std::vector<int64_t>{0, 1, 2}));
  const BlockMatrix factors = a.importance_factors();
  ASSERT_EQ(factors.rows, 3);
  ASSERT_EQ(factors.cols, 3);
  const double lo = 0.2, hi = 0.2 + 0.2 + 0.1;
  for (int64_t l = 0; l < 3; ++l)
    for (int64_t g = 0; g < 3; ++g) {
      const double mean = 0.2 + 0.1 * static_cast<double>(l) + 0.05 * static_cast<double>(g);
      EXPECT_NEAR(a.channel_means().at(l, g), mean, 1e-6);
      EXPECT_NEAR(factors.at(l, g), (mean - lo) / (hi - lo), 1e-5) << l << "," << g;
    }
  EXPECT_EQ(factors.at(0, 0), 0.0);
  EXPECT_EQ(factors.at(2, 2), 1.0);
  const BlockMatrix b = stats.find("B")->importance_factors();
  EXPECT_EQ(b.values, (std::vector<double>{0.25, 0.0, 1.0, 0.75}));  // means 5,4 / 8,7 over 4..8

  // Every group equal: no group stands out, all zeros (not NaN).
  BlockStatistics flat;
  flat.add_forward({observation("daam", "C", 0, {"group0", "group1"}, 3, 1, [](int64_t, int64_t, int64_t) { return 0.5f; })});
  EXPECT_EQ(flat.find("C")->importance_factors().values, (std::vector<double>{0.0, 0.0}));
}

TEST(BlockStatistics, JsonHasTheDocumentedStructure) {
  BlockStatistics stats;
  for (int64_t loop = 0; loop < 2; ++loop) {
    stats.add_forward({observation("tau_fusion", "block.loop_input.tau_fusion", loop, {"x", "x0", "skip"}, 3, 4,
                           [&](int64_t c, int64_t, int64_t k) { return static_cast<float>(0.1 * c + 0.01 * k + 0.2 * loop + 0.0004); }),
               observation("daam", "block.mlp_input.daam", loop, {"group0", "group1"}, 3, 1,
                           [&](int64_t g, int64_t, int64_t) { return static_cast<float>(0.5 + 0.1 * g + 0.3 * loop); }),
               observation("head_gate", "block.attn_output.head_gate", loop, {"head0", "head1", "head2"}, 3, 1,
                           [&](int64_t h, int64_t t, int64_t) { return static_cast<float>(0.4 + 0.05 * h + 0.01 * t); })});
  }
  const nlohmann::ordered_json extra{{"heatmaps", nlohmann::ordered_json::array({{{"file", "x.png"}}})}};
  const auto j = stats.to_json({{"block.mlp_input.daam", extra}});
  EXPECT_EQ(j["format"], "dartgolf-block-statistics-1");
  EXPECT_EQ(j["forwards"], 2);
  ASSERT_EQ(j["blocks"].size(), 3u);
  const auto& tau = j["blocks"][0];
  EXPECT_EQ(tau["name"], "block.loop_input.tau_fusion");
  EXPECT_EQ(tau["type"], "tau_fusion");
  EXPECT_EQ(tau["site"], "loop_input");
  EXPECT_EQ(tau["channels"], (std::vector<std::string>{"x", "x0", "skip"}));
  EXPECT_EQ(tau["width"], 4);
  EXPECT_EQ(tau["loops"], (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(tau["tokens"], 6);
  ASSERT_EQ(tau["uses"].size(), 2u);
  EXPECT_EQ(tau["uses"][1]["loop"], 1);
  EXPECT_EQ(tau["uses"][1]["tokens"], 3);
  const auto& x0 = tau["uses"][1]["channels"][1];
  EXPECT_EQ(x0["channel"], "x0");
  EXPECT_NEAR(x0["mean"].get<double>(), 0.1 + 0.015 + 0.2 + 0.0004, 1e-6);
  EXPECT_NEAR(x0["min"].get<double>(), 0.3004, 1e-6);
  EXPECT_NEAR(x0["max"].get<double>(), 0.3304, 1e-6);
  EXPECT_GT(x0["std"].get<double>(), 0.0);
  ASSERT_EQ(tau["uses"][1]["feature_mean"].size(), 3u);
  EXPECT_NEAR(tau["uses"][1]["feature_mean"][2][3].get<double>(), 0.2 + 0.03 + 0.2 + 0.0004, 1e-6);
  EXPECT_EQ(tau["mean"].size(), 2u);
  EXPECT_EQ(tau["mean"][0].size(), 3u);
  EXPECT_FALSE(tau.contains("importance_factors"));

  const auto& daam = j["blocks"][1];
  EXPECT_EQ(daam["importance_factors"].size(), 2u);
  EXPECT_EQ(daam["importance_factors"][0][0], 0.0);
  EXPECT_EQ(daam["importance_factors"][1][1], 1.0);
  EXPECT_FALSE(daam["uses"][0].contains("feature_mean"));
  EXPECT_EQ(daam["heatmaps"][0]["file"], "x.png");
  EXPECT_EQ(j["blocks"][2]["type"], "head_gate");
  EXPECT_FALSE(j["blocks"][2].contains("heatmaps"));

  const std::string text = stats.summary_text();
  EXPECT_NE(text.find("mean tau loop0: x=0.015,x0=0.115,skip=0.215"), std::string::npos) << text;
  EXPECT_NE(text.find("importance factor 0.000..1.000"), std::string::npos) << text;
  EXPECT_NE(text.find("highest loop1/group1, lowest loop0/group0"), std::string::npos) << text;
  EXPECT_NE(text.find("mean gate 0.4100..0.5100 (highest loop0/head2"), std::string::npos) << text;
}

TEST(BlockStatistics, MismatchedObservationsAreErrorsNamingTheBlock) {
  BlockStatistics stats;
  BlockObservation bad = observation("daam", "D", 0, {"group0"}, 2, 1, [](int64_t, int64_t, int64_t) { return 1.0f; });
  bad.values.pop_back();
  try {
    stats.add(bad);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("block observation D (loop 0): 1 values, expected 1 channels × 2 tokens × 1"),
              std::string::npos)
        << e.what();
  }
  stats.add(observation("daam", "D", 0, {"group0"}, 2, 1, [](int64_t, int64_t, int64_t) { return 1.0f; }));
  EXPECT_THROW(stats.add(observation("daam", "D", 1, {"group0", "group1"}, 2, 1,
                                     [](int64_t, int64_t, int64_t) { return 1.0f; })),
               Error);
}

TEST(BlockHeatmaps, WritesOnePngPerMapAndDescribesIt) {
  std::string why;
  if (find_gnuplot(&why).empty()) GTEST_SKIP() << why;
  test::TempDir dir;
  BlockStatistics stats;
  for (int64_t loop = 0; loop < 3; ++loop)
    stats.add_forward({observation("tau_fusion", "t", loop, {"x", "x0"}, 2, 5,
                           [&](int64_t c, int64_t, int64_t k) { return static_cast<float>(0.1 * c + 0.02 * k + 0.1 * loop); }),
               observation("daam", "d", loop, {"group0", "group1"}, 2, 1,
                           [&](int64_t g, int64_t, int64_t) { return static_cast<float>(g + loop); }),
               observation("head_gate", "h", loop, {"head0"}, 2, 1, [](int64_t, int64_t, int64_t) { return 0.5f; })});
  const auto files = write_block_heatmaps(stats, dir / "maps");
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[0].description["file"], "t.tau_mean.png");
  EXPECT_EQ(files[0].description["shape"], (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(files[1].description["file"], "t.tau_features.png");
  EXPECT_EQ(files[1].description["shape"], (std::vector<int64_t>{6, 5}));
  EXPECT_NEAR(files[1].description["color_min"].get<double>(), 0.0, 1e-6);
  EXPECT_NEAR(files[1].description["color_max"].get<double>(), 0.1 + 0.08 + 0.2, 1e-6);
  EXPECT_EQ(files[2].description["file"], "d.importance.png");
  EXPECT_EQ(files[2].description["color_min"], 0.0);
  EXPECT_EQ(files[2].description["color_max"], 1.0);
  EXPECT_EQ(files[3].description["file"], "h.head_gate.png");
  for (const auto& f : files) {
    EXPECT_TRUE(std::filesystem::exists(f.path)) << f.path;
    const std::string png = test::read_text(f.path);
    EXPECT_EQ(png.substr(1, 3), "PNG");
    // The image is gnuplot's, sized for its title, axes and colour bar: at least 640 x 360.
    const auto be32 = [&](size_t at) {
      return (uint32_t(uint8_t(png[at])) << 24) | (uint32_t(uint8_t(png[at + 1])) << 16) |
             (uint32_t(uint8_t(png[at + 2])) << 8) | uint32_t(uint8_t(png[at + 3]));
    };
    EXPECT_GE(be32(16), 640u);
    EXPECT_GE(be32(20), 360u);
    EXPECT_TRUE(f.description.contains("rows") && f.description.contains("columns"));
  }
  const auto by_block = heatmaps_by_block(files);
  EXPECT_EQ(by_block.at("t")["heatmaps"].size(), 2u);
  EXPECT_EQ(by_block.at("d")["heatmaps"][0]["file"], "d.importance.png");
}

TEST(TauLog, OneLinePerTauBlockAndOneRecordPerUse) {
  std::vector<BlockObservation> observations;
  for (int64_t loop = 0; loop < 2; ++loop)
    observations.push_back(observation("tau_fusion", "block.loop_input.tau_fusion", loop, {"x", "x0", "skip"}, 2, 2,
                                       [&](int64_t c, int64_t t, int64_t) {
                                         return static_cast<float>(0.5 + 0.012 * (c == 0) - 0.012 * (c == 1) +
                                                                   0.1 * loop + (t == 0 ? 0.001 : -0.001));
                                       }));
  observations.push_back(
      observation("daam", "block.mlp_input.daam", 0, {"group0"}, 2, 1, [](int64_t, int64_t, int64_t) { return 0.3f; }));
  const TauLog log = tau_log(observations, 40);
  ASSERT_EQ(log.lines.size(), 1u);
  EXPECT_EQ(log.lines[0],
            "tau block.loop_input.tau_fusion loop0:x=0.512,x0=0.488,skip=0.500 loop1:x=0.612,x0=0.588,skip=0.600");
  ASSERT_EQ(log.records.size(), 2u);
  EXPECT_EQ(log.records[1]["event"], "tau");
  EXPECT_EQ(log.records[1]["step"], 40);
  EXPECT_EQ(log.records[1]["name"], "block.loop_input.tau_fusion");
  EXPECT_EQ(log.records[1]["loop"], 1);
  EXPECT_NEAR(log.records[1]["mean"]["x0"].get<double>(), 0.588, 1e-6);
  EXPECT_NEAR(log.records[1]["mean"]["skip"].get<double>(), 0.6, 1e-6);

  EXPECT_TRUE(tau_log({}, 1).lines.empty());
  EXPECT_TRUE(tau_log({observation("daam", "d", 0, {"group0"}, 1, 1, [](int64_t, int64_t, int64_t) { return 1.0f; })}, 1)
                  .records.empty());
}

}  // namespace
}  // namespace dg
