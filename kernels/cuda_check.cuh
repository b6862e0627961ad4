// CUDA runtime errors become dg::Error with the call that failed.
#pragma once

#include <cuda_runtime.h>

#include "core/error.h"

#define DG_CUDA_CHECK(call)                                                              \
  do {                                                                                   \
    const cudaError_t dg_cuda_status_ = (call);                                          \
    DG_CHECK(dg_cuda_status_ == cudaSuccess,                                             \
             "CUDA error in " #call ": " << cudaGetErrorString(dg_cuda_status_));       \
  } while (0)
