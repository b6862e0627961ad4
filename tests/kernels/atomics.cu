#include "atomics.h"

#include "device_buffer.cuh"
#include "dialect.cuh"

namespace dg::test {
namespace {

__global__ void atomics_kernel(AtomicTotals* totals) {
  const int t = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);  // 0..1023
  atomicAdd(&totals->add, t);
  atomicSub(&totals->sub, t);
  atomicMin(&totals->min, 5000 - t);
  atomicMax(&totals->max, t * 3);
  atomicOr(&totals->bit_or, 1u << (t % 32));
  atomicXor(&totals->bit_xor, static_cast<unsigned>(t));
  atomicInc(&totals->inc_wrapped, 99u);  // counts 0..99 and wraps
  atomicDec(&totals->dec_wrapped, 99u);
  atomicAdd(&totals->add_u64, 1ull << 33);
  atomicAdd(&totals->add_f32, static_cast<float>(t % 7));
  atomicAdd(&totals->add_f64, 0.5 * t);
  atomicExch(&totals->exch_last, t);
  int seen = totals->cas_increments;  // the classic compare-and-swap loop
  while (true) {
    const int was = atomicCAS(&totals->cas_increments, seen, seen + 1);
    if (was == seen) break;
    seen = was;
  }
}

}  // namespace

AtomicTotals run_atomics() {
  AtomicTotals start{};
  start.min = 1 << 30;
  start.max = -1;
  DeviceBuffer<AtomicTotals> totals(std::vector<AtomicTotals>{start});
  dg::cuda::launch<atomics_kernel>(4, 256, 0, nullptr, totals.get());
  return totals.to_host()[0];
}

}  // namespace dg::test
