// The part of the CUDA runtime C API the project uses, emulated on the host with the signatures
// of cuda_runtime_api.h: host code in kernels/ is the same in both builds, and emulated binaries
// never link libcudart. Device memory is host memory (emu/device_memory.h); every operation is
// synchronous; streams and events are in streams.cpp.
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>

#include "core/error.h"
#include "emu/device_limits.h"
#include "emu/device_memory.h"
#include "emu/kernel_launch.h"
#include "emu/runtime_errors.h"
#include "emu/streams.h"

namespace dg::emu {
namespace {

thread_local cudaError_t t_last_error = cudaSuccess;
thread_local cudaError_t t_reason_code = cudaSuccess;
thread_local std::string t_reason;
thread_local std::string t_message;

const char* error_text(cudaError_t code) {
  switch (code) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    default: return "unknown error";
  }
}

const char* error_name(cudaError_t code) {
  switch (code) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    default: return "cudaErrorUnknown";
  }
}

size_t physical_memory_bytes() {
  return static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

cudaError_t check_copy(const char* call, void* dst, const void* src, size_t count, cudaMemcpyKind kind) {
  if (count == 0) return cudaSuccess;
  if (dst == nullptr || src == nullptr)
    return runtime_failure(cudaErrorInvalidValue, std::string(call) + ": null pointer");
  bool dst_device = false, src_device = false;
  switch (kind) {
    case cudaMemcpyHostToHost: break;
    case cudaMemcpyHostToDevice: dst_device = true; break;
    case cudaMemcpyDeviceToHost: src_device = true; break;
    case cudaMemcpyDeviceToDevice: dst_device = src_device = true; break;
    case cudaMemcpyDefault:  // unified addressing: whichever side is device memory is checked
      dst_device = is_device_address(dst);
      src_device = is_device_address(src);
      break;
    default: return runtime_failure(cudaErrorInvalidMemcpyDirection, std::string(call) + ": unknown cudaMemcpyKind");
  }
  for (auto [device, pointer, role] : {std::tuple{dst_device, static_cast<const void*>(dst), "destination"},
                                       std::tuple{src_device, src, "source"}}) {
    if (!device) continue;
    const std::string problem = check_device_range(pointer, count, role);
    if (!problem.empty()) return runtime_failure(cudaErrorInvalidValue, std::string(call) + ": " + problem);
  }
  return cudaSuccess;
}

cudaError_t check_memset(const char* call, void* dst, size_t count) {
  if (count == 0) return cudaSuccess;
  const std::string problem = check_device_range(dst, count, "destination");
  return problem.empty() ? cudaSuccess : runtime_failure(cudaErrorInvalidValue, std::string(call) + ": " + problem);
}

}  // namespace

cudaError_t runtime_failure(cudaError_t code, std::string reason) {
  t_last_error = code;
  t_reason_code = code;
  t_reason = std::move(reason);
  return code;
}

}  // namespace dg::emu

using dg::emu::kEmulatedDevice;
using dg::emu::runtime_failure;

// ---- errors -------------------------------------------------------------------------------------

cudaError_t cudaGetLastError() { return std::exchange(dg::emu::t_last_error, cudaSuccess); }

cudaError_t cudaPeekAtLastError() { return dg::emu::t_last_error; }

const char* cudaGetErrorName(cudaError_t error) { return dg::emu::error_name(error); }

const char* cudaGetErrorString(cudaError_t error) {
  if (error == cudaSuccess || error != dg::emu::t_reason_code || dg::emu::t_reason.empty())
    return dg::emu::error_text(error);
  dg::emu::t_message = std::string(dg::emu::error_text(error)) + " (CUDA emulator: " + dg::emu::t_reason + ")";
  return dg::emu::t_message.c_str();
}

// ---- devices ------------------------------------------------------------------------------------

cudaError_t cudaGetDeviceCount(int* count) {
  if (count == nullptr) return runtime_failure(cudaErrorInvalidValue, "cudaGetDeviceCount: null output pointer");
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  if (device == nullptr) return runtime_failure(cudaErrorInvalidValue, "cudaGetDevice: null output pointer");
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (device == 0) return cudaSuccess;
  return runtime_failure(cudaErrorInvalidDevice,
                         "cudaSetDevice(" + std::to_string(device) + "): the emulator has one device, 0");
}

cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

cudaError_t cudaDeviceReset() { return cudaSuccess; }

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (prop == nullptr) return runtime_failure(cudaErrorInvalidValue, "cudaGetDeviceProperties: null output pointer");
  if (device != 0)
    return runtime_failure(cudaErrorInvalidDevice, "cudaGetDeviceProperties: the emulator has one device, 0");
  std::memset(prop, 0, sizeof *prop);
  std::strncpy(prop->name, "dartgolf CUDA emulator (sm_90 limits)", sizeof prop->name - 1);
  prop->totalGlobalMem = dg::emu::physical_memory_bytes();
  prop->sharedMemPerBlock = kEmulatedDevice.default_shared_per_block;
  prop->sharedMemPerBlockOptin = kEmulatedDevice.max_shared_per_block_optin;
  prop->sharedMemPerMultiprocessor = kEmulatedDevice.shared_per_multiprocessor;
  prop->regsPerBlock = 65536;
  prop->warpSize = kEmulatedDevice.warp_size;
  prop->maxThreadsPerBlock = static_cast<int>(kEmulatedDevice.max_threads_per_block);
  prop->maxThreadsPerMultiProcessor = 2048;
  for (int i = 0; i < 3; ++i) {
    prop->maxThreadsDim[i] = static_cast<int>(kEmulatedDevice.max_block_dim[i]);
    prop->maxGridSize[i] = static_cast<int>(kEmulatedDevice.max_grid_dim[i]);
  }
  prop->totalConstMem = 64 * 1024;
  prop->major = kEmulatedDevice.compute_major;
  prop->minor = kEmulatedDevice.compute_minor;
  prop->multiProcessorCount = 1;  // blocks run one at a time
  prop->unifiedAddressing = 1;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (value == nullptr) return runtime_failure(cudaErrorInvalidValue, "cudaDeviceGetAttribute: null output pointer");
  if (device != 0) return runtime_failure(cudaErrorInvalidDevice, "cudaDeviceGetAttribute: the emulator has one device, 0");
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = static_cast<int>(kEmulatedDevice.max_threads_per_block); break;
    case cudaDevAttrWarpSize: *value = kEmulatedDevice.warp_size; break;
    case cudaDevAttrMultiProcessorCount: *value = 1; break;
    case cudaDevAttrComputeCapabilityMajor: *value = kEmulatedDevice.compute_major; break;
    case cudaDevAttrComputeCapabilityMinor: *value = kEmulatedDevice.compute_minor; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = static_cast<int>(kEmulatedDevice.default_shared_per_block); break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin:
      *value = static_cast<int>(kEmulatedDevice.max_shared_per_block_optin);
      break;
    default:
      return runtime_failure(cudaErrorInvalidValue,
                             "cudaDeviceGetAttribute: attribute " + std::to_string(attr) + " is not emulated");
  }
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free, size_t* total) {
  if (free == nullptr || total == nullptr) return runtime_failure(cudaErrorInvalidValue, "cudaMemGetInfo: null output pointer");
  *total = dg::emu::physical_memory_bytes();
  *free = static_cast<size_t>(sysconf(_SC_AVPHYS_PAGES)) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return cudaSuccess;
}

// ---- kernels' attributes --------------------------------------------------------------------------

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value) {
  if (func == nullptr) return runtime_failure(cudaErrorInvalidDeviceFunction, "cudaFuncSetAttribute: null kernel");
  switch (attr) {
    case cudaFuncAttributeMaxDynamicSharedMemorySize:
      if (value < 0 || static_cast<size_t>(value) > kEmulatedDevice.max_shared_per_block_optin)
        return runtime_failure(cudaErrorInvalidValue,
                               "cudaFuncSetAttribute: " + std::to_string(value) +
                                   " bytes of dynamic shared memory exceed the sm_90 maximum of " +
                                   std::to_string(kEmulatedDevice.max_shared_per_block_optin) + " bytes (227 KiB)");
      dg::emu::set_max_dynamic_shared(func, static_cast<size_t>(value));
      return cudaSuccess;
    case cudaFuncAttributePreferredSharedMemoryCarveout: return cudaSuccess;  // a hint
    default:
      return runtime_failure(cudaErrorInvalidValue,
                             "cudaFuncSetAttribute: attribute " + std::to_string(attr) + " is not emulated");
  }
}

cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attr, const void* func) {
  if (attr == nullptr || func == nullptr)
    return runtime_failure(cudaErrorInvalidValue, "cudaFuncGetAttributes: null argument");
  std::memset(attr, 0, sizeof *attr);
  attr->maxThreadsPerBlock = static_cast<int>(kEmulatedDevice.max_threads_per_block);
  attr->maxDynamicSharedSizeBytes = static_cast<int>(dg::emu::max_dynamic_shared(func));
  attr->ptxVersion = attr->binaryVersion = 90;
  return cudaSuccess;
}

// ---- memory -------------------------------------------------------------------------------------

cudaError_t cudaMalloc(void** ptr, size_t size) {
  if (ptr == nullptr) return runtime_failure(cudaErrorInvalidValue, "cudaMalloc: null output pointer");
  try {
    *ptr = dg::emu::device_allocate(size);
  } catch (const dg::Error& e) {
    *ptr = nullptr;
    return runtime_failure(cudaErrorMemoryAllocation, e.what());
  }
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  std::string why;
  return dg::emu::device_free(ptr, &why) ? cudaSuccess : runtime_failure(cudaErrorInvalidValue, why);
}

cudaError_t cudaMallocHost(void** ptr, size_t size) {
  if (ptr == nullptr) return runtime_failure(cudaErrorInvalidValue, "cudaMallocHost: null output pointer");
  *ptr = size == 0 ? nullptr : std::aligned_alloc(256, (size + 255) / 256 * 256);
  if (size != 0 && *ptr == nullptr)
    return runtime_failure(cudaErrorMemoryAllocation, "cudaMallocHost: cannot allocate " + std::to_string(size) + " bytes");
  return cudaSuccess;
}

cudaError_t cudaFreeHost(void* ptr) {
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind kind) {
  if (const cudaError_t e = dg::emu::check_copy("cudaMemcpy", dst, src, count, kind); e != cudaSuccess) return e;
  if (count > 0) std::memmove(dst, src, count);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind kind, cudaStream_t stream) {
  if (!dg::emu::stream_is_valid(stream))
    return runtime_failure(cudaErrorInvalidResourceHandle, "cudaMemcpyAsync: unknown stream");
  if (const cudaError_t e = dg::emu::check_copy("cudaMemcpyAsync", dst, src, count, kind); e != cudaSuccess) return e;
  if (count > 0) std::memmove(dst, src, count);
  return cudaSuccess;
}

cudaError_t cudaMemset(void* dst, int value, size_t count) {
  if (const cudaError_t e = dg::emu::check_memset("cudaMemset", dst, count); e != cudaSuccess) return e;
  if (count > 0) std::memset(dst, value, count);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* dst, int value, size_t count, cudaStream_t stream) {
  if (!dg::emu::stream_is_valid(stream))
    return runtime_failure(cudaErrorInvalidResourceHandle, "cudaMemsetAsync: unknown stream");
  if (const cudaError_t e = dg::emu::check_memset("cudaMemsetAsync", dst, count); e != cudaSuccess) return e;
  if (count > 0) std::memset(dst, value, count);
  return cudaSuccess;
}
