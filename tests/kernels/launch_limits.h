// Kernels for the launch-limit tests: an empty one, and one that touches all its dynamic shared memory.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace dg::test {

void launch_empty(dim3 grid, dim3 block, size_t dynamic_shared_bytes, cudaStream_t stream = nullptr);
// Fills `bytes` of dynamic shared memory and sums them back; returns the sum (bytes / 4 ones).
float fill_dynamic_shared(size_t bytes);
// dg::cuda::allow_dynamic_shared for the filling kernel.
void allow_dynamic_shared(size_t bytes);

}  // namespace dg::test
