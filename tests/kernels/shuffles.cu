#include "shuffles.h"

#include "device_buffer.cuh"
#include "dialect.cuh"

namespace dg::test {
namespace {

template <class T>
__device__ T shuffle(ShuffleForm form, uint32_t mask, T value, int arg, int width) {
  switch (form) {
    case ShuffleForm::Idx: return __shfl_sync(mask, value, arg, width);
    case ShuffleForm::Up: return __shfl_up_sync(mask, value, static_cast<unsigned>(arg), width);
    case ShuffleForm::Down: return __shfl_down_sync(mask, value, static_cast<unsigned>(arg), width);
    case ShuffleForm::Xor: return __shfl_xor_sync(mask, value, arg, width);
  }
  return value;
}

__global__ void shuffle_kernel(ShuffleForm form, uint32_t mask, int arg, int width, int32_t* i32, int64_t* i64,
                               float* f32) {
  const int lane = threadIdx.x;
  if (!(mask >> lane & 1u)) return;
  const int value = 1000 + lane;
  i32[lane] = shuffle(form, mask, value, arg, width);
  i64[lane] = shuffle(form, mask, (static_cast<int64_t>(value) << 33) + lane, arg, width);
  f32[lane] = shuffle(form, mask, value + 0.25f, arg, width);
}

__global__ void vote_kernel(uint32_t mask, const int* predicate, uint32_t* ballot, int* any, int* all) {
  const int lane = threadIdx.x;
  if (!(mask >> lane & 1u)) return;
  ballot[lane] = __ballot_sync(mask, predicate[lane]);
  any[lane] = __any_sync(mask, predicate[lane]);
  all[lane] = __all_sync(mask, predicate[lane]);
}

__global__ void half_warp_exchange_kernel(const int* values, int* out) {
  __shared__ int slots[32];
  const int lane = threadIdx.x;
  const uint32_t half = lane < 16 ? 0x0000ffffu : 0xffff0000u;
  slots[lane] = values[lane];
  __syncwarp(half);
  out[lane] = slots[lane ^ 1];
}

}  // namespace

ShuffleResults run_shuffle(ShuffleForm form, uint32_t mask, int arg, int width) {
  DeviceBuffer<int32_t> i32(std::vector<int32_t>(32, -1));
  DeviceBuffer<int64_t> i64(std::vector<int64_t>(32, -1));
  DeviceBuffer<float> f32(std::vector<float>(32, -1.0f));
  dg::cuda::launch<shuffle_kernel>(1, 32, 0, nullptr, form, mask, arg, width, i32.get(), i64.get(), f32.get());
  return {i32.to_host(), i64.to_host(), f32.to_host()};
}

VoteResults run_votes(uint32_t mask, const std::vector<int>& predicate) {
  DeviceBuffer<int> d_predicate(predicate);
  DeviceBuffer<uint32_t> ballot(std::vector<uint32_t>(32, 0));
  DeviceBuffer<int> any(std::vector<int>(32, -1)), all(std::vector<int>(32, -1));
  dg::cuda::launch<vote_kernel>(1, 32, 0, nullptr, mask, d_predicate.get(), ballot.get(), any.get(), all.get());
  return {ballot.to_host(), any.to_host(), all.to_host()};
}

std::vector<int> run_half_warp_exchange(const std::vector<int>& values) {
  DeviceBuffer<int> d_values(values), out(values.size());
  dg::cuda::launch<half_warp_exchange_kernel>(1, 32, 0, nullptr, d_values.get(), out.get());
  return out.to_host();
}

}  // namespace dg::test
