#include "intrinsics.h"

#include "device_buffer.cuh"
#include "dialect.cuh"

namespace dg::test {
namespace {

constexpr int kFloatOutputs = 8, kIntOutputs = 5, kBitOutputs = 2;

__global__ void intrinsics_kernel(const float* x, int n, float* f, int* i, uint32_t* u) {
  const int t = threadIdx.x;
  if (t >= n) return;
  const float v = x[t];
  const int iv = static_cast<int>(v * 1000.0f);
  f[0 * n + t] = rsqrtf(fabsf(v) + 1.0f);
  f[1 * n + t] = __expf(v);
  f[2 * n + t] = __logf(fabsf(v) + 1.0f);
  f[3 * n + t] = __fdividef(v, 3.0f);
  f[4 * n + t] = __saturatef(v);
  f[5 * n + t] = min(v, 0.5f);
  f[6 * n + t] = __bfloat162float(__float2bfloat16(v));
  f[7 * n + t] = __bfloat162float(__hadd(__float2bfloat16(v), __float2bfloat16(1.0f)));
  i[0 * n + t] = __float2int_rn(v * 10.0f);
  i[1 * n + t] = __popc(static_cast<unsigned>(iv));
  i[2 * n + t] = __clz(iv);
  i[3 * n + t] = __ffs(iv);
  i[4 * n + t] = max(iv, -100);
  u[0 * n + t] = __brev(static_cast<unsigned>(iv));
  u[1 * n + t] = __float_as_uint(v);
}

}  // namespace

IntrinsicResults run_intrinsics(const std::vector<float>& x) {
  const size_t n = x.size();
  DeviceBuffer<float> d_x(x), f(kFloatOutputs * n);
  DeviceBuffer<int> i(kIntOutputs * n);
  DeviceBuffer<uint32_t> u(kBitOutputs * n);
  dg::cuda::launch<intrinsics_kernel>(1, static_cast<unsigned>(n), 0, nullptr, d_x.get(), static_cast<int>(n), f.get(),
                                      i.get(), u.get());
  const std::vector<float> fh = f.to_host();
  const std::vector<int> ih = i.to_host();
  const std::vector<uint32_t> uh = u.to_host();
  auto part = [n](const auto& all, size_t k) { return std::vector(all.begin() + k * n, all.begin() + (k + 1) * n); };
  return {part(fh, 0), part(fh, 1), part(fh, 2), part(fh, 3), part(fh, 4), part(fh, 5), part(fh, 6), part(fh, 7),
          part(ih, 0), part(ih, 1), part(ih, 2), part(ih, 3), part(ih, 4), part(uh, 0), part(uh, 1)};
}

}  // namespace dg::test
