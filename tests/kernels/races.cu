#include "races.h"

#include "device_buffer.cuh"
#include "dialect.cuh"

namespace dg::test {
namespace {

template <bool kWithBarrier>
__global__ void neighbour_difference_kernel(const float* in, float* out) {
  __shared__ float tile[1024];
  const int i = threadIdx.x;
  tile[i] = in[i];
  if (kWithBarrier) __syncthreads();  // without it, thread i may read tile[i - 1] before thread i - 1 wrote it
  out[i] = tile[i] - (i > 0 ? tile[i - 1] : 0.0f);
}

}  // namespace

std::vector<float> neighbour_difference(const std::vector<float>& in, bool with_barrier) {
  DG_CHECK(!in.empty() && in.size() <= 1024, "neighbour_difference: 1 to 1024 values, got " << in.size());
  DeviceBuffer<float> d_in(in), d_out(in.size());
  const unsigned threads = static_cast<unsigned>(in.size());
  if (with_barrier)
    dg::cuda::launch<neighbour_difference_kernel<true>>(1, threads, 0, nullptr, d_in.get(), d_out.get());
  else
    dg::cuda::launch<neighbour_difference_kernel<false>>(1, threads, 0, nullptr, d_in.get(), d_out.get());
  return d_out.to_host();
}

}  // namespace dg::test
