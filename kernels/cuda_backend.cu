// The CUDA backend's core: device, stream, memory, copies and matmul. The op families live in
// ops_*.cu. Every launch and copy goes on the backend's one stream; copies to the host wait for it.
#include <cuda_bf16.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <sstream>

#include "backend/op_checks.h"
#include "backend/shape_checks.h"
#include "cuda_backend.h"
#include "cuda_backend_impl.h"
#include "cuda_check.cuh"
#include "dialect.cuh"
#include "gemm.h"
#include "grid.cuh"

namespace dg::cuda {

using namespace shape_checks;

namespace {

__global__ void fill_kernel(float* out, float value, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) out[i] = value;
}

__global__ void to_bf16_kernel(__nv_bfloat16* out, const float* in, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) out[i] = __float2bfloat16_rn(in[i]);
}

// autocast stores a matmul's output in bf16: round the fp32 result to the nearest bf16 value.
__global__ void round_to_bf16_kernel(float* x, int64_t n) {
  for (int64_t i = global_index(); i < n; i += global_stride()) x[i] = __bfloat162float(__float2bfloat16_rn(x[i]));
}

std::string gib(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return text;
}

bool usable(int index, std::string* why) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    if (why) *why = std::string("no usable CUDA device: ") + cudaGetErrorString(status);
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return false;
  }
  if (index < 0 || index >= count) {
    if (why) *why = "no CUDA device " + std::to_string(index) + " (" + std::to_string(count) + " present)";
    return false;
  }
  return true;
}

}  // namespace

CudaProvider backend_provider() {
  CudaProvider p;
  p.usable = &usable;
  p.make = &make_cuda_backend;
#ifdef DARTGOLF_CUDA_EMULATED
  p.kind = "emulated";
#else
  p.kind = "nvcc";
#endif
  return p;
}

std::unique_ptr<Backend> make_cuda_backend(const CudaBackendOptions& options) {
  return std::make_unique<CudaBackend>(options);
}

CudaBackend::CudaBackend(const CudaBackendOptions& options) : options_(options) {
  std::string why;
  DG_CHECK(usable(options.device_index, &why), "cuda backend: " << why);
  DG_CUDA_CHECK(cudaSetDevice(options.device_index));
  cudaDeviceProp prop{};
  DG_CUDA_CHECK(cudaGetDeviceProperties(&prop, options.device_index));
  std::ostringstream name;
  name << prop.name << " (sm_" << prop.major << prop.minor;
  device_name_ = name.str();
  DG_CUDA_CHECK(cudaStreamCreate(&stream_));
}

CudaBackend::~CudaBackend() {
  for (Scratch& s : scratch_)
    if (s.ptr) cudaFree(s.ptr);
  if (stream_) cudaStreamDestroy(stream_);
}

std::string CudaBackend::description() const {
  size_t free_bytes = 0, total_bytes = 0;
  cudaMemGetInfo(&free_bytes, &total_bytes);
  std::ostringstream text;
  text << "cuda:" << options_.device_index << " " << device_name_ << ", " << gib(static_cast<int64_t>(total_bytes))
       << ", " << gib(static_cast<int64_t>(free_bytes)) << " free) precision " << precision_name(options_.precision);
#ifdef DARTGOLF_CUDA_EMULATED
  text << " [CPU emulator]";
#endif
  return text.str();
}

// ---- memory -----------------------------------------------------------------------------------------

void* CudaBackend::allocate(int64_t bytes) {
  DG_CHECK(bytes >= 0, "cuda allocate: negative size " << bytes);
  void* ptr = nullptr;
  const size_t request = static_cast<size_t>(bytes > 0 ? bytes : 256);  // cudaMalloc aligns to 256 bytes
  const cudaError_t status = cudaMalloc(&ptr, request);
  if (status != cudaSuccess) {
    cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    DG_THROW("the configuration does not fit in GPU memory: allocating " << bytes << " bytes failed ("
                                                                         << cudaGetErrorString(status) << ") with "
                                                                         << allocated_bytes_ << " bytes already allocated by dartgolf; cuda:"
                                                                         << options_.device_index << " has " << free_bytes
                                                                         << " of " << total_bytes
                                                                         << " bytes free. Lower train_batch_tokens per micro-step "
                                                                            "(raise grad_accum_steps) or the model size");
  }
  DG_CUDA_CHECK(cudaMemsetAsync(ptr, 0, request, stream_));
  allocations_[ptr] = static_cast<int64_t>(request);
  allocated_bytes_ += static_cast<int64_t>(request);
  peak_bytes_ = std::max(peak_bytes_, allocated_bytes_);
  return ptr;
}

void CudaBackend::release(void* ptr) {
  if (ptr == nullptr) return;
  const auto found = allocations_.find(ptr);
  DG_CHECK(found != allocations_.end(), "cuda release: " << ptr << " was not allocated by this backend");
  DG_CUDA_CHECK(cudaStreamSynchronize(stream_));  // no kernel may still use it
  DG_CUDA_CHECK(cudaFree(ptr));
  allocated_bytes_ -= found->second;
  allocations_.erase(found);
}

void* CudaBackend::scratch(int slot, int64_t bytes) {
  Scratch& s = scratch_[slot];
  if (s.bytes < bytes) {
    if (s.ptr) {
      DG_CUDA_CHECK(cudaStreamSynchronize(stream_));
      DG_CUDA_CHECK(cudaFree(s.ptr));
    }
    DG_CUDA_CHECK(cudaMalloc(&s.ptr, static_cast<size_t>(bytes)));
    s.bytes = bytes;
  }
  return s.ptr;
}

void CudaBackend::copy_to_host(void* host_dst, const Tensor& src) {
  DG_CHECK(src.device == Device::CUDA, "copy_to_host: src " << describe(src) << " is not a CUDA tensor");
  if (src.bytes() == 0) return;
  DG_CUDA_CHECK(cudaMemcpyAsync(host_dst, src.data, static_cast<size_t>(src.bytes()), cudaMemcpyDeviceToHost, stream_));
  DG_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::copy_from_host(const Tensor& dst, const void* host_src) {
  DG_CHECK(dst.device == Device::CUDA, "copy_from_host: dst " << describe(dst) << " is not a CUDA tensor");
  if (dst.bytes() == 0) return;
  DG_CUDA_CHECK(cudaMemcpyAsync(dst.data, host_src, static_cast<size_t>(dst.bytes()), cudaMemcpyHostToDevice, stream_));
  // The host buffer may be a temporary of the caller: it must be read before returning.
  DG_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void CudaBackend::copy(const Tensor& dst, const Tensor& src) {
  DG_CHECK(dst.device == Device::CUDA && src.device == Device::CUDA, "copy: both tensors must be on the GPU");
  DG_CHECK(dst.bytes() == src.bytes(), "copy: dst " << describe(dst) << " and src " << describe(src) << " differ in size");
  if (dst.bytes() == 0) return;
  DG_CUDA_CHECK(cudaMemcpyAsync(dst.data, src.data, static_cast<size_t>(dst.bytes()), cudaMemcpyDeviceToDevice, stream_));
}

void CudaBackend::fill(const Tensor& dst, float value) {
  check_fill(Device::CUDA, dst);
  const int64_t n = dst.numel();
  if (n == 0) return;
  launch<fill_kernel>(grid_for(n), kThreads, 0, stream_, dst.f32(), value, n);
}

void CudaBackend::synchronize() { DG_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

// ---- matmul -----------------------------------------------------------------------------------------

void CudaBackend::matmul(const Tensor& c, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, float alpha,
                         float beta) {
  const auto [m, n, k] = check_matmul(Device::CUDA, c, a, trans_a, b, trans_b);
  DG_CHECK(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX,
           "matmul: dimensions " << m << "×" << k << "×" << n << " exceed the cuBLAS int range");
  if (m == 0 || n == 0) return;

  Gemm g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.alpha = alpha;
  g.beta = beta;
  g.a = {a.data, GemmType::F32, trans_a, a.dim(-1), 0};
  g.b = {b.data, GemmType::F32, trans_b, b.dim(-1), 0};
  g.c = {c.data, GemmType::F32, n, 0};
  if (options_.precision == Precision::Bf16 && k > 0) {
    // train_gpt.py's autocast: the operands of every matmul are cast to bf16 and the product
    // accumulates in fp32 (docs/backend.md, "Precision on the GPU").
    auto* a16 = static_cast<__nv_bfloat16*>(scratch(0, a.numel() * 2));
    auto* b16 = static_cast<__nv_bfloat16*>(scratch(1, b.numel() * 2));
    launch<to_bf16_kernel>(grid_for(a.numel()), kThreads, 0, stream_, a16, a.f32(), a.numel());
    launch<to_bf16_kernel>(grid_for(b.numel()), kThreads, 0, stream_, b16, b.f32(), b.numel());
    g.a.data = a16;
    g.a.type = GemmType::BF16;
    g.b.data = b16;
    g.b.type = GemmType::BF16;
  }
  gemm(g, stream_);
  // A fresh product is stored as autocast stores it, in bf16; an accumulation (beta ≠ 0: gradient
  // sums) stays fp32, as autograd accumulates a bf16 gradient into an fp32 .grad.
  if (options_.precision == Precision::Bf16 && beta == 0.0f)
    launch<round_to_bf16_kernel>(grid_for(m * n), kThreads, 0, stream_, c.f32(), m * n);
}

}  // namespace dg::cuda
