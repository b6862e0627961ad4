// Sharded Muon: the round-robin plan, and an optimizer whose Muon is shared among 2 or 3 ranks
// (Gloo, threads on loopback) giving bit-identical weights and optimizer state to one that runs it
// alone, step after step.
#include <gtest/gtest.h>
#include <omp.h>

#include <chrono>
#include <random>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "core/config.h"
#include "dist/gloo_communicator.h"
#include "dist_fixtures.h"
#include "model/param_layout.h"
#include "model/settings.h"
#include "train/muon_shards.h"
#include "train/optimizer.h"

namespace dg {
namespace {
using namespace std::chrono_literals;

ParamLayout mixed_layout() {
  ParamLayout layout;
  layout.add("tok_emb.weight", {64, 16}, OptimGroup::TokenEmbedding, InitKind::Normal, 0.02f);
  layout.add("a.c_q.weight", {16, 16}, OptimGroup::Matrix, InitKind::UniformFanIn);
  layout.add("a.c_k.weight", {8, 16}, OptimGroup::Matrix, InitKind::UniformFanIn);
  layout.add("a.scale", {16}, OptimGroup::Scalar, InitKind::Constant, 1.0f);
  layout.add("a.fc.weight", {48, 16}, OptimGroup::Matrix, InitKind::UniformFanIn);  // tall: scale √3
  layout.add("a.proj.weight", {16, 48}, OptimGroup::Matrix, InitKind::UniformFanIn);
  layout.add("b.c_q.weight", {16, 16}, OptimGroup::Matrix, InitKind::UniformFanIn);
  layout.add("b.fc.weight", {40, 16}, OptimGroup::Matrix, InitKind::UniformFanIn);
  layout.add("skip_weights", {3, 16}, OptimGroup::Scalar, InitKind::Constant, 1.0f);
  layout.add("b.proj.weight", {16, 40}, OptimGroup::Matrix, InitKind::UniformFanIn);
  return layout;
}

TEST(MuonShards, MatricesGoRoundRobinInLayoutOrderIntoEqualBlocks) {
  const ParamLayout layout = mixed_layout();
  const MuonShards shards = MuonShards::plan(layout, 3);
  ASSERT_EQ(shards.matrices.size(), 7u);
  std::vector<int64_t> used(3, 0);
  for (size_t i = 0; i < shards.matrices.size(); ++i) {
    const MuonShards::Matrix& m = shards.matrices[i];
    EXPECT_EQ(m.owner, static_cast<int>(i % 3)) << m.spec->name;  // train_gpt.py's i % world_size
    EXPECT_EQ(m.block_offset, used[static_cast<size_t>(m.owner)]) << m.spec->name;
    EXPECT_EQ(m.block_offset % 64, 0) << m.spec->name;
    used[static_cast<size_t>(m.owner)] += (m.spec->numel() + 63) / 64 * 64;
  }
  EXPECT_EQ(shards.block_elements, *std::max_element(used.begin(), used.end()));
  EXPECT_EQ(shards.gathered_offset(shards.matrices[4]), shards.block_elements + shards.matrices[4].block_offset);
  EXPECT_EQ(MuonShards::plan(layout, 1).matrices.back().owner, 0);
}

// Weights, gradients and optimizer state of one replica.
struct Replica {
  std::unique_ptr<Backend> backend = make_cpu_backend();
  std::vector<float> params, grads;
  Tensor p, g;
  explicit Replica(const ParamLayout& layout)
      : params(static_cast<size_t>(layout.buffer_elements())), grads(params.size()) {
    layout.initialize(params.data(), 7);
    p = Tensor::f32(params.data(), {layout.buffer_elements()});
    g = Tensor::f32(grads.data(), {layout.buffer_elements()});
  }
  // The same pseudo-random gradient on every replica at a given step (as after the all-reduce).
  void gradient_of_step(int step) {
    std::mt19937 gen(static_cast<unsigned>(step) * 977u + 1u);
    std::normal_distribution<float> normal(0.0f, 0.1f);
    for (float& x : grads) x = normal(gen);
  }
};

struct Snapshot {
  std::vector<float> params, momentum, adam_m;
};

Snapshot train_steps(const ParamLayout& layout, dist::Communicator* comm) {
  omp_set_num_threads(1);  // the same arithmetic in every thread
  Replica r(layout);
  Config config(default_settings());
  Optimizer opt(layout, *r.backend, r.p, r.g, OptimizerSettings::from_config(config), comm);
  for (int step = 0; step < 5; ++step) {
    r.gradient_of_step(step);
    opt.step(1.0 - 0.1 * step, 0.85 + 0.02 * step);
  }
  Snapshot s;
  s.params = r.params;
  for (const auto& b : opt.state_buffers()) {
    const float* data = b.tensor.f32();
    std::vector<float> copy(data, data + b.tensor.numel());
    if (std::string(b.name) == "optimizer.muon_momentum") s.momentum = copy;
    if (std::string(b.name) == "optimizer.adam_m") s.adam_m = copy;
  }
  return s;
}

class ShardedMuon : public ::testing::TestWithParam<int> {};

TEST_P(ShardedMuon, EqualsUnshardedMuonBitForBit) {
  const int ranks = GetParam();
  const ParamLayout layout = mixed_layout();
  const Snapshot alone = train_steps(layout, nullptr);
  std::vector<Snapshot> sharded(static_cast<size_t>(ranks));
  const int port = test::free_port();
  test::run_ranks(ranks, [&](int rank) {
    dist::Rendezvous rv(test::loopback_world(rank, ranks, port), 20s);
    dist::GlooCommunicator comm(rv);
    sharded[static_cast<size_t>(rank)] = train_steps(layout, &comm);
  });
  for (int rank = 0; rank < ranks; ++rank) {
    SCOPED_TRACE("rank " + std::to_string(rank));
    const Snapshot& s = sharded[static_cast<size_t>(rank)];
    EXPECT_EQ(s.params, alone.params);
    EXPECT_EQ(s.momentum, alone.momentum);  // every rank keeps every matrix's momentum
    EXPECT_EQ(s.adam_m, alone.adam_m);
  }
  EXPECT_NE(alone.params, Replica(layout).params);  // the steps did move the weights
}

INSTANTIATE_TEST_SUITE_P(Ranks, ShardedMuon, ::testing::Values(2, 3));

}  // namespace
}  // namespace dg
