// Every kernel launch of the project: dg::cuda::launch<kernel>(grid, block, smem_bytes, stream, args...).
// The arguments are converted to the kernel's parameter types first, as <<<>>> would. With nvcc
// it is cudaLaunchKernel, and a refused launch throws dg::Error naming the kernel and its
// configuration; under the emulator the launch is checked against the sm_90 limits and runs to
// completion before launch returns.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "core/error.h"
#ifdef DARTGOLF_CUDA_EMULATED
#include "emu/kernel_launch.h"
#endif

namespace dg::cuda {
namespace detail {

template <class F>
struct KernelSignature;
template <class... P>
struct KernelSignature<void (*)(P...)> {
  using Arguments = std::tuple<std::decay_t<P>...>;
};

// The kernel's name as the compiler spells the template argument, e.g. "rmsnorm_kernel<256>".
inline std::string spelled_template_argument(const std::string& pretty) {
  // g++: "const char* dg::cuda::detail::kernel_name() [with auto Kernel = ns::kernel<256>]"
  const size_t start = pretty.find("Kernel = ");
  if (start == std::string::npos) return pretty;
  std::string spelled = pretty.substr(start + 9, pretty.find_first_of(";]", start) - start - 9);
  if (!spelled.empty() && spelled[0] == '&') spelled.erase(0, 1);
  return spelled;
}

// The kernel's name as the compiler spells the template argument, e.g. "ns::rmsnorm_kernel<256>".
template <auto Kernel>
const char* kernel_name() {
  static const std::string name = spelled_template_argument(__PRETTY_FUNCTION__);
  return name.c_str();
}

#ifdef DARTGOLF_CUDA_EMULATED
template <auto Kernel, class Arguments>
void invoke(const void* arguments) {
  std::apply(Kernel, *static_cast<const Arguments*>(arguments));  // each thread gets its own copies
}
#endif

}  // namespace detail

template <auto Kernel, class... Args>
void launch(dim3 grid, dim3 block, size_t dynamic_shared_bytes, cudaStream_t stream, Args&&... args) {
  using Arguments = typename detail::KernelSignature<decltype(Kernel)>::Arguments;
  static_assert(std::tuple_size_v<Arguments> == sizeof...(Args), "dg::cuda::launch: wrong number of kernel arguments");
  const Arguments arguments(std::forward<Args>(args)...);
#ifdef DARTGOLF_CUDA_EMULATED
  const emu::KernelCall call{detail::kernel_name<Kernel>(), grid, block, dynamic_shared_bytes,
                             &detail::invoke<Kernel, Arguments>, &arguments};
  emu::launch_kernel(call, reinterpret_cast<const void*>(Kernel), stream);
#else
  void* pointers[std::tuple_size_v<Arguments> + 1] = {};
  std::apply([&pointers](const auto&... values) {
    [[maybe_unused]] int i = 0;
    ((pointers[i++] = const_cast<void*>(static_cast<const void*>(&values))), ...);
  }, arguments);
  const cudaError_t status =
      cudaLaunchKernel(reinterpret_cast<const void*>(Kernel), grid, block, pointers, dynamic_shared_bytes, stream);
  DG_CHECK(status == cudaSuccess, "launch of kernel " << detail::kernel_name<Kernel>() << " (grid (" << grid.x << ","
                                                      << grid.y << "," << grid.z << "), block (" << block.x << ","
                                                      << block.y << "," << block.z << "), " << dynamic_shared_bytes
                                                      << " bytes of dynamic shared memory) failed: "
                                                      << cudaGetErrorString(status));
#endif
}

// Lets Kernel use up to `bytes` of dynamic shared memory: needed above 48 KiB, at most 227 KiB
// (sm_90). cudaFuncSetAttribute's template overload exists only under nvcc, so both builds call
// the C function.
template <auto Kernel>
void allow_dynamic_shared(size_t bytes) {
  const cudaError_t status = cudaFuncSetAttribute(reinterpret_cast<const void*>(Kernel),
                                                  cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  DG_CHECK(status == cudaSuccess, "cannot allow kernel " << detail::kernel_name<Kernel>() << " " << bytes
                                                         << " bytes of dynamic shared memory: "
                                                         << cudaGetErrorString(status));
}

}  // namespace dg::cuda
