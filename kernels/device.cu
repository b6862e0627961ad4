#include "cuda_device.h"

#include <cuda_runtime.h>

namespace dg::cuda {

bool device_available(std::string* reason) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    if (reason) *reason = std::string("no usable CUDA device: ") + cudaGetErrorString(status);
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return false;
  }
  if (count == 0) {
    if (reason) *reason = "no CUDA device present";
    return false;
  }
  return true;
}

}  // namespace dg::cuda
