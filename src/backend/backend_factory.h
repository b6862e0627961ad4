// Choosing the backend a command runs on: `--device auto|cpu|cuda` (setting `device`) and
// `precision=auto|fp32|bf16`. dartgolf_lib itself links no CUDA implementation: a program that
// links one (the dartgolf binary links kernels/ built by nvcc, or by the CPU emulator in a
// -DDARTGOLF_CUDA=EMULATE build) provides it at start-up with provide_cuda_backend, so the CPU-only
// parts of the project build and test without CUDA.
#pragma once

#include <memory>
#include <string>

#include "backend/backend.h"
#include "core/config.h"

namespace dg {

enum class Precision { Fp32, Bf16 };
const char* precision_name(Precision p);

struct CudaBackendOptions {
  int device_index = 0;  // which GPU (LOCAL_RANK picks it under torchrun)
  Precision precision = Precision::Bf16;
};

// What a CUDA implementation offers the rest of the program.
struct CudaProvider {
  // Whether device `index` can be used; otherwise why not ("no CUDA driver", "no device", ...).
  bool (*usable)(int index, std::string* why) = nullptr;
  std::unique_ptr<Backend> (*make)(const CudaBackendOptions& options) = nullptr;
  const char* kind = "";  // "nvcc" or "emulated": printed with the device
};

void provide_cuda_backend(const CudaProvider& provider);
// True when this program links a CUDA implementation.
bool cuda_backend_linked();

struct BackendRequest {
  std::string device = "auto";     // auto: the GPU when one is usable, else the CPU
  std::string precision = "auto";  // auto: bf16 on a GPU (train_gpt.py's autocast), fp32 on the CPU
  int device_index = 0;
};

// The device and precision settings of a run (keys "device" and "precision").
BackendRequest backend_request(const Config& config, int local_rank);

// The backend for the request. Throws naming the reason when --device cuda cannot be honoured
// (no CUDA in this build, no usable GPU) or a setting is invalid (precision=bf16 on the CPU).
// `note` (optional) receives why auto fell back to the CPU.
std::unique_ptr<Backend> make_backend(const BackendRequest& request, std::string* note = nullptr);

// Checks "device" and "precision" values without creating anything (settings checks).
void check_backend_settings(const Config& config);

}  // namespace dg
