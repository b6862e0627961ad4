// The NCCL communicator (kernels/nccl_communicator.cu) on the emulator's NCCL twin, its ranks as
// threads of this process: every collective gives the same bits as Gloo on the same inputs with 2
// ranks, bf16 sums round once at the end (kernels/emu/nccl_twin.cpp says how that can differ from
// NCCL's ring beyond 2 ranks), and a rank that never calls, or calls another collective, is an
// error naming it rather than a hang.
#include <gtest/gtest.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <chrono>
#include <random>
#include <vector>

#include "cuda_check.cuh"
#include "dist/gloo_communicator.h"
#include "dist_fixtures.h"
#include "nccl_communicator.h"
#include "test_support.h"

namespace dg {
namespace {
using namespace std::chrono_literals;
using dist::ReduceOp;
using test::error_of;

// Device memory holding a copy of host values, for the NCCL communicator's buffers.
template <typename T>
struct DeviceBuffer {
  explicit DeviceBuffer(const std::vector<T>& host) : n(host.size()) {
    DG_CUDA_CHECK(cudaMalloc(&data, n * sizeof(T)));
    DG_CUDA_CHECK(cudaMemcpy(data, host.data(), n * sizeof(T), cudaMemcpyHostToDevice));
  }
  ~DeviceBuffer() { cudaFree(data); }
  std::vector<T> host() const {
    std::vector<T> out(n);
    DG_CUDA_CHECK(cudaMemcpy(out.data(), data, n * sizeof(T), cudaMemcpyDeviceToHost));
    return out;
  }
  Tensor tensor(DType dtype) const { return Tensor(data, dtype, Device::CUDA, {static_cast<int64_t>(n)}); }
  void* data = nullptr;
  size_t n;
};

template <typename T>
std::vector<T> random_values(int rank, int salt, size_t n) {
  std::mt19937 gen(static_cast<unsigned>(rank * 1000 + salt));
  std::normal_distribution<double> normal;
  std::vector<T> v(n);
  for (T& x : v) x = static_cast<T>(normal(gen));
  return v;
}

// What one rank saw from one communicator, collective by collective.
struct Results {
  std::vector<float> sum, avg, scattered, gathered, broadcast;
  std::vector<double> avg64, host;
};

constexpr size_t kN = 1000;

Results run_on_gloo(dist::Communicator& comm) {
  const int r = comm.rank(), n = comm.world_size();
  Results out;
  out.sum = random_values<float>(r, 1, kN);
  comm.all_reduce(Tensor::f32(out.sum.data(), {kN}), ReduceOp::Sum);
  out.avg = random_values<float>(r, 2, kN);
  comm.all_reduce(Tensor::f32(out.avg.data(), {kN}), ReduceOp::Avg);
  out.avg64 = random_values<double>(r, 3, kN);
  comm.all_reduce(Tensor::f64(out.avg64.data(), {kN}), ReduceOp::Avg);
  std::vector<float> in = random_values<float>(r, 4, kN * n);
  out.scattered.resize(kN);
  comm.reduce_scatter(Tensor::f32(out.scattered.data(), {kN}), Tensor::f32(in.data(), {int64_t(kN * n)}), ReduceOp::Avg);
  std::vector<float> mine = random_values<float>(r, 5, kN);
  out.gathered.resize(kN * n);
  comm.all_gather(Tensor::f32(out.gathered.data(), {int64_t(kN * n)}), Tensor::f32(mine.data(), {kN}));
  out.broadcast = random_values<float>(r, 6, kN);
  comm.broadcast(Tensor::f32(out.broadcast.data(), {kN}), 1);
  out.host = random_values<double>(r, 7, 3);
  comm.all_reduce_host(out.host.data(), 3, ReduceOp::Sum);
  comm.barrier();
  return out;
}

Results run_on_nccl(dist::Communicator& comm) {
  const int r = comm.rank(), n = comm.world_size();
  Results out;
  DeviceBuffer<float> sum(random_values<float>(r, 1, kN)), avg(random_values<float>(r, 2, kN));
  DeviceBuffer<double> avg64(random_values<double>(r, 3, kN));
  DeviceBuffer<float> in(random_values<float>(r, 4, kN * n)), scattered{std::vector<float>(kN)};
  DeviceBuffer<float> mine(random_values<float>(r, 5, kN)), gathered{std::vector<float>(kN * n)};
  DeviceBuffer<float> bcast(random_values<float>(r, 6, kN));
  comm.all_reduce(sum.tensor(DType::F32), ReduceOp::Sum);
  comm.all_reduce(avg.tensor(DType::F32), ReduceOp::Avg);
  comm.all_reduce(avg64.tensor(DType::F64), ReduceOp::Avg);
  comm.reduce_scatter(scattered.tensor(DType::F32), in.tensor(DType::F32), ReduceOp::Avg);
  comm.all_gather(gathered.tensor(DType::F32), mine.tensor(DType::F32));
  comm.broadcast(bcast.tensor(DType::F32), 1);
  comm.wait();  // buffers are read only after the compute stream waits for the collectives
  out.host = random_values<double>(r, 7, 3);
  comm.all_reduce_host(out.host.data(), 3, ReduceOp::Sum);
  comm.barrier();
  out.sum = sum.host();
  out.avg = avg.host();
  out.avg64 = avg64.host();
  out.scattered = scattered.host();
  out.gathered = gathered.host();
  out.broadcast = bcast.host();
  return out;
}

void expect_same(const Results& a, const Results& b) {
  EXPECT_EQ(a.sum, b.sum);
  EXPECT_EQ(a.avg, b.avg);
  EXPECT_EQ(a.avg64, b.avg64);
  EXPECT_EQ(a.scattered, b.scattered);
  EXPECT_EQ(a.gathered, b.gathered);
  EXPECT_EQ(a.broadcast, b.broadcast);
  EXPECT_EQ(a.host, b.host);
}

TEST(NcclTwin, TwoRankThreadsGiveTheSameBitsAsGloo) {
  const int port = test::free_port();
  std::vector<Results> gloo(2), nccl(2);
  test::run_ranks(2, [&](int rank) {
    dist::Rendezvous rv(test::loopback_world(rank, 2, port), 20s);
    dist::GlooCommunicator g(rv);
    const auto n = cuda::make_nccl_communicator(rv);
    EXPECT_STREQ(n->name(), "nccl");
    EXPECT_EQ(n->device(), Device::CUDA);
    gloo[static_cast<size_t>(rank)] = run_on_gloo(g);
    nccl[static_cast<size_t>(rank)] = run_on_nccl(*n);
  });
  for (int rank = 0; rank < 2; ++rank) {
    SCOPED_TRACE("rank " + std::to_string(rank));
    expect_same(nccl[static_cast<size_t>(rank)], gloo[static_cast<size_t>(rank)]);
  }
  // What every rank must end with the same: the reductions, the gather and the broadcast.
  EXPECT_EQ(nccl[0].sum, nccl[1].sum);
  EXPECT_EQ(nccl[0].avg, nccl[1].avg);
  EXPECT_EQ(nccl[0].gathered, nccl[1].gathered);
  EXPECT_EQ(nccl[0].broadcast, nccl[1].broadcast);
}

TEST(NcclTwin, Bf16SumsAreRoundedToNearestEvenOnceAtTheEnd) {
  const int port = test::free_port();
  // Near 1 bf16 values are 2^-7 apart. 1 + 2^-8 + 2^-8 summed in float and rounded once is 1 + 2^-7;
  // rounding after each addition would lose both halves (1 + 2^-8 is a tie, to even: 1).
  const float parts[3] = {1.0f, 0.00390625f, 0.00390625f};
  std::vector<float> got(3);
  test::run_ranks(3, [&](int rank) {
    dist::Rendezvous rv(test::loopback_world(rank, 3, port), 20s);
    const auto n = cuda::make_nccl_communicator(rv);
    DeviceBuffer<__nv_bfloat16> x(std::vector<__nv_bfloat16>{__float2bfloat16(parts[rank]), __float2bfloat16(3.0f)});
    n->all_reduce(x.tensor(DType::BF16), ReduceOp::Sum);
    n->wait();
    const auto h = x.host();
    got[static_cast<size_t>(rank)] = __bfloat162float(h[0]);
    EXPECT_EQ(__bfloat162float(h[1]), 9.0f);
  });
  EXPECT_EQ(got, std::vector<float>(3, 1.0078125f));
}

TEST(NcclTwin, ARankThatNeverCallsIsNamedAfterTheTimeout) {
  const int port = test::free_port();
  std::string error;
  test::run_ranks(2, [&](int rank) {
    dist::Rendezvous rv(test::loopback_world(rank, 2, port), 300ms);
    const auto n = cuda::make_nccl_communicator(rv);
    if (rank == 1) return;  // joins, then never takes part
    error = error_of([&] { n->barrier(); });
  });
  EXPECT_NE(error.find("NCCL twin: rank 0 waited 0.3 s in all_reduce of 1 f64 for rank(s) 1 of 2, which never called it"),
            std::string::npos)
      << error;
}

TEST(NcclTwin, RanksCallingDifferentCollectivesIsAnError) {
  const int port = test::free_port();
  std::vector<std::string> errors(2);
  test::run_ranks(2, [&](int rank) {
    dist::Rendezvous rv(test::loopback_world(rank, 2, port), 20s);
    const auto n = cuda::make_nccl_communicator(rv);
    DeviceBuffer<float> x{std::vector<float>(8, 1.0f)}, y{std::vector<float>(16)};
    errors[static_cast<size_t>(rank)] = error_of([&] {
      if (rank == 0) n->all_reduce(x.tensor(DType::F32), ReduceOp::Sum);
      else n->all_gather(y.tensor(DType::F32), x.tensor(DType::F32));
    });
  });
  for (const std::string& e : errors)
    EXPECT_NE(e.find("the ranks called different collectives: rank 0 all_reduce of 8 f32, rank 1 all_gather of 8 f32"),
              std::string::npos)
        << e;
}

}  // namespace
}  // namespace dg
