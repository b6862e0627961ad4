// The communicators: every collective over Gloo with 2 and 3 ranks (threads of this process on
// loopback) against the values it must give, results bit-identical on every rank, the single-process
// communicator, argument errors, and a peer that leaves turning into an error instead of a hang.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "dist/gloo_communicator.h"
#include "dist/make_communicator.h"
#include "dist_fixtures.h"
#include "test_support.h"

namespace dg {
namespace {
using namespace std::chrono_literals;
using dist::ReduceOp;
using test::error_of;

// Runs body(comm) on every rank of a Gloo job of `world_size` threads.
void with_gloo(int world_size, const std::function<void(dist::Communicator&)>& body) {
  const int port = test::free_port();
  test::run_ranks(world_size, [&](int rank) {
    dist::Rendezvous rv(test::loopback_world(rank, world_size, port), 20s);
    dist::GlooCommunicator comm(rv);
    body(comm);
  });
}

class GlooCollectives : public ::testing::TestWithParam<int> {};

TEST_P(GlooCollectives, GiveTheValuesTheyMustOnEveryRank) {
  const int n = GetParam();
  with_gloo(n, [n](dist::Communicator& comm) {
    const int r = comm.rank();
    EXPECT_EQ(comm.world_size(), n);
    // all_reduce: rank r holds r + i + 1 (sums of small integers are exact in floats).
    std::vector<float> f(5);
    for (int i = 0; i < 5; ++i) f[i] = static_cast<float>(r + i + 1);
    comm.all_reduce(Tensor::f32(f.data(), {5}), ReduceOp::Sum);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(f[i], static_cast<float>(n * (i + 1) + n * (n - 1) / 2)) << "rank " << r;
    std::vector<double> d = {static_cast<double>(2 * r), 1.0};
    comm.all_reduce(Tensor::f64(d.data(), {2}), ReduceOp::Avg);
    EXPECT_EQ(d[0], static_cast<double>(n - 1));
    EXPECT_EQ(d[1], 1.0);
    // reduce_scatter: block b of rank r's input holds 10·b + r; rank r gets block r summed.
    std::vector<float> in(static_cast<size_t>(3 * n)), out(3);
    for (int b = 0; b < n; ++b)
      for (int i = 0; i < 3; ++i) in[static_cast<size_t>(3 * b + i)] = static_cast<float>(10 * b + r + i);
    comm.reduce_scatter(Tensor::f32(out.data(), {3}), Tensor::f32(in.data(), {3 * n}), ReduceOp::Sum);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(out[i], static_cast<float>(n * (10 * r + i) + n * (n - 1) / 2));
    // all_gather: block q of the output is rank q's input.
    std::vector<float> mine = {static_cast<float>(r), static_cast<float>(-r)}, all(static_cast<size_t>(2 * n), -1.0f);
    comm.all_gather(Tensor::f32(all.data(), {2 * n}), Tensor::f32(mine.data(), {2}));
    for (int q = 0; q < n; ++q) {
      EXPECT_EQ(all[static_cast<size_t>(2 * q)], static_cast<float>(q));
      EXPECT_EQ(all[static_cast<size_t>(2 * q + 1)], static_cast<float>(-q));
    }
    // broadcast from the last rank.
    std::vector<double> b = {static_cast<double>(r) + 0.5};
    comm.broadcast(Tensor::f64(b.data(), {1}), n - 1);
    EXPECT_EQ(b[0], n - 0.5);
    double host[2] = {1.0, static_cast<double>(r)};
    comm.all_reduce_host(host, 2, ReduceOp::Sum);
    EXPECT_EQ(host[0], static_cast<double>(n));
    comm.barrier();
  });
}

INSTANTIATE_TEST_SUITE_P(Ranks, GlooCollectives, ::testing::Values(2, 3));

TEST(Gloo, AnAverageOfRandomFloatsIsBitIdenticalOnEveryRank) {
  constexpr int kRanks = 3;
  constexpr int64_t kSize = 100003;  // several of Gloo's segments, not a multiple of the ranks
  std::vector<std::vector<float>> results(kRanks);
  with_gloo(kRanks, [&](dist::Communicator& comm) {
    std::mt19937 gen(static_cast<unsigned>(comm.rank()) + 7);
    std::normal_distribution<float> normal;
    std::vector<float> g(kSize);
    for (float& x : g) x = normal(gen);
    comm.all_reduce(Tensor::f32(g.data(), {kSize}), ReduceOp::Avg);
    results[static_cast<size_t>(comm.rank())] = g;
  });
  EXPECT_EQ(results[1], results[0]);
  EXPECT_EQ(results[2], results[0]);
}

TEST(Communicator, BadBuffersAreRefusedNamingTheProblem) {
  with_gloo(2, [](dist::Communicator& comm) {
    std::vector<float> a(4), b(6);
    EXPECT_NE(error_of([&] { comm.all_gather(Tensor::f32(b.data(), {6}), Tensor::f32(a.data(), {4})); })
                  .find("all_gather: the output has 6 elements, expected WORLD_SIZE (2) x the input's 4"),
              std::string::npos);
    EXPECT_NE(error_of([&] { comm.all_reduce(Tensor::f32(a.data(), {4}, Device::CUDA), ReduceOp::Sum); })
                  .find("all_reduce: the buffer is device memory; the gloo communicator takes host memory"),
              std::string::npos);
    std::vector<int32_t> ids(4);
    EXPECT_NE(error_of([&] { comm.all_reduce(Tensor::i32(ids.data(), {4}), ReduceOp::Sum); })
                  .find("the gloo communicator does not take i32 buffers"),
              std::string::npos);
    EXPECT_NE(error_of([&] { comm.broadcast(Tensor::f32(a.data(), {4}), 2); }).find("root rank 2 is outside a world of 2"),
              std::string::npos);
    EXPECT_NE(error_of([&] { comm.all_gather(Tensor::f32(b.data(), {6}), Tensor::f32(b.data() + 3, {3})); })
                  .find("the output overlaps the input"),
              std::string::npos);
    comm.barrier();  // nothing was sent: the ranks are still in step
  });
}

TEST(Communicator, ASingleProcessIsRankZeroOfOne) {
  auto backend = make_cpu_backend();
  const auto comm = dist::make_communicator(nullptr, *backend);
  EXPECT_EQ(comm->world_size(), 1);
  EXPECT_STREQ(comm->name(), "single process");
  std::vector<float> x = {1.5f, -2.0f}, y(2);
  comm->all_reduce(Tensor::f32(x.data(), {2}), ReduceOp::Avg);
  EXPECT_EQ(x, (std::vector<float>{1.5f, -2.0f}));
  comm->all_gather(Tensor::f32(y.data(), {2}), Tensor::f32(x.data(), {2}));
  EXPECT_EQ(y, x);
  std::fill(y.begin(), y.end(), 0.0f);
  comm->reduce_scatter(Tensor::f32(y.data(), {2}), Tensor::f32(x.data(), {2}), ReduceOp::Sum);
  EXPECT_EQ(y, x);
  comm->barrier();
}

TEST(Gloo, APeerThatLeftTurnsTheNextCollectiveIntoAnError) {
  const int port = test::free_port();
  std::atomic<bool> gone{false};
  std::string error;
  test::run_ranks(2, [&](int rank) {
    dist::Rendezvous rv(test::loopback_world(rank, 2, port), 20s);
    auto comm = std::make_unique<dist::GlooCommunicator>(rv);
    comm->barrier();
    if (rank == 0) {
      comm.reset();  // closes its connections, as a killed process's are closed
      gone = true;
      return;
    }
    while (!gone) std::this_thread::sleep_for(1ms);
    std::vector<float> g(1000, 1.0f);
    error = error_of([&] { comm->all_reduce(Tensor::f32(g.data(), {1000}), ReduceOp::Avg); });
  });
  EXPECT_NE(error.find("rank 1: all_reduce of 1000 elements over Gloo failed"), std::string::npos) << error;
  EXPECT_NE(error.find("another rank exited or was killed"), std::string::npos) << error;
}

}  // namespace
}  // namespace dg
