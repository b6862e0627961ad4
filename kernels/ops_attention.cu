// PLACEHOLDER for the integration branch: replaced by the real kernels before merging into main.
#include "cuda_backend_impl.h"

namespace dg::cuda {

void CudaBackend::attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v, float softmax_scale) {
  DG_THROW("cuda backend: attention_forward is not implemented yet");
}

void CudaBackend::attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse, float softmax_scale) {
  DG_THROW("cuda backend: attention_backward is not implemented yet");
}

}  // namespace dg::cuda
