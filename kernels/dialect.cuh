// The one header every kernel source includes (kernels/*.cu, tests/kernels/*.cu). Kernels are
// ordinary CUDA C++ compiled two ways: by nvcc for sm_80/sm_90, and by g++ for the CPU emulator
// (DARTGOLF_CUDA_EMULATED, kernels/emu/, docs/cuda-emulator.md). The dialect both builds share:
//   - launches go through dg::cuda::launch<kernel>(grid, block, smem, stream, args...) (launch.cuh),
//     never <<<...>>>;
//   - built-ins, static __shared__, __syncthreads(_count/_and/_or), __syncwarp, __shfl*_sync,
//     __ballot/__any/__all_sync, atomics, cuda_bf16.h/cuda_fp16.h, the intrinsics in emu/device.h;
//   - dynamic shared memory only as DG_DYNAMIC_SHARED(type, name);
//   - tensor-core and async-copy instructions only through dg::ptx (ptx.cuh);
//   - code that must differ under emulation tests DARTGOLF_CUDA_EMULATED, never __CUDA_ARCH__.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#ifdef DARTGOLF_CUDA_EMULATED
#include "emu/device.h"
#define DG_DYNAMIC_SHARED(type, name) type* const name = static_cast<type*>(::dg::emu::dynamic_shared_memory())
#else
#define DG_DYNAMIC_SHARED(type, name)                                   \
  extern __shared__ __align__(16) unsigned char dg_dynamic_shared_[]; \
  type* const name = reinterpret_cast<type*>(dg_dynamic_shared_)
#endif

#include "launch.cuh"
