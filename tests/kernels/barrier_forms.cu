#include "barrier_forms.h"

#include "device_buffer.cuh"
#include "dialect.cuh"

namespace dg::test {
namespace {

__global__ void barrier_votes_kernel(const int* predicate, int* count, int* all, int* any) {
  const int t = threadIdx.x;
  count[t] = __syncthreads_count(predicate[t]);
  all[t] = __syncthreads_and(predicate[t]);
  any[t] = __syncthreads_or(predicate[t]);
}

__global__ void rotate_after_early_exit_kernel(const int* in, int* out, int n) {
  __shared__ int slots[1024];
  const int t = threadIdx.x;
  if (t >= n) return;  // the barrier below waits only for the threads still running
  slots[t] = in[t];
  __syncthreads();
  out[t] = slots[(t + 1) % n];
}

}  // namespace

BarrierVotes barrier_votes(const std::vector<int>& predicate) {
  const size_t n = predicate.size();
  DeviceBuffer<int> d_predicate(predicate), count(n), all(n), any(n);
  dg::cuda::launch<barrier_votes_kernel>(1, static_cast<unsigned>(n), 0, nullptr, d_predicate.get(), count.get(),
                                         all.get(), any.get());
  return {count.to_host(), all.to_host(), any.to_host()};
}

std::vector<int> rotate_after_early_exit(const std::vector<int>& in, int threads) {
  const int n = static_cast<int>(in.size());
  DeviceBuffer<int> d_in(in), out(in.size());
  dg::cuda::launch<rotate_after_early_exit_kernel>(1, threads, 0, nullptr, d_in.get(), out.get(), n);
  return out.to_host();
}

}  // namespace dg::test
