// The CUDA backend's entry point for the rest of the program: a CudaProvider for
// dg::provide_cuda_backend (src/backend/backend_factory.h). Plain C++: no CUDA headers, so the
// dartgolf binary's main and the tests include it whichever CUDA implementation they link (nvcc's
// or the CPU emulator's, docs/cuda-emulator.md).
#pragma once

#include <memory>

#include "backend/backend.h"
#include "backend/backend_factory.h"

namespace dg::cuda {

CudaProvider backend_provider();
std::unique_ptr<Backend> make_cuda_backend(const CudaBackendOptions& options);

}  // namespace dg::cuda
