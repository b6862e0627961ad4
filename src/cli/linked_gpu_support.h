// What a program linking the CUDA implementation (nvcc's or the emulator's) offers the commands:
// `--device cuda`, and NCCL for training on several GPUs. dartgolf_lib links no CUDA code, so each
// program's main calls this; the macros are the program target's own (CMakeLists.txt).
#pragma once

#include "backend/backend_factory.h"
#ifdef DARTGOLF_LINKS_CUDA
#include "cuda_backend.h"
#endif
#ifdef DARTGOLF_WITH_NCCL
#include "nccl_communicator.h"
#endif

namespace dg::cli {

inline void offer_linked_gpu_support() {
#ifdef DARTGOLF_LINKS_CUDA
  provide_cuda_backend(cuda::backend_provider());
#endif
#ifdef DARTGOLF_WITH_NCCL
  cuda::register_nccl_communicator();  // data-parallel training on GPUs (dist/make_communicator.h)
#endif
}

}  // namespace dg::cli
