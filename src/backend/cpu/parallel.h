// Small helpers shared by the CPU kernels: when a loop is worth a parallel region, and a per-thread
// scratch row that grows once and is then reused (no allocation inside a step after the first).
#pragma once

#include <cstdint>
#include <vector>

namespace dg::cpu {

// Below this many elements an OpenMP fork/join costs more than the loop itself.
inline constexpr int64_t kParallelMinElements = 1 << 15;

// Columns per task when a kernel parallelises a reduction over rows by column blocks: each task owns
// its columns for every row, so no two threads write the same sum and results do not depend on the
// thread count.
inline constexpr int64_t kColumnBlock = 64;

template <class Real>
Real* thread_scratch(int64_t count) {
  thread_local std::vector<Real> buffer;
  if (static_cast<int64_t>(buffer.size()) < count) buffer.resize(static_cast<size_t>(count));
  return buffer.data();
}

}  // namespace dg::cpu
