// PLACEHOLDER for the integration branch: replaced by the real kernels before merging into main.
#include "cuda_backend_impl.h"

namespace dg::cuda {

void CudaBackend::tau_features_forward(const Tensor& features, const Tensor& streams) {
  DG_THROW("cuda backend: tau_features_forward is not implemented yet");
}

void CudaBackend::tau_features_backward(const Tensor& dstreams, const Tensor& dfeatures, const Tensor& streams) {
  DG_THROW("cuda backend: tau_features_backward is not implemented yet");
}

void CudaBackend::daam_gate_forward(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& offset, const Tensor& scale, const Tensor& mix, float eps, bool residual) {
  DG_THROW("cuda backend: daam_gate_forward is not implemented yet");
}

void CudaBackend::daam_gate_backward(const Tensor& dx, const Tensor& doffset, const Tensor& dscale, const Tensor& dmix, const Tensor& dout, const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& offset, const Tensor& scale, const Tensor& mix, bool residual) {
  DG_THROW("cuda backend: daam_gate_backward is not implemented yet");
}

void CudaBackend::daam_density_forward(const Tensor& density, const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& offset, const Tensor& scale, const Tensor& mix) {
  DG_THROW("cuda backend: daam_density_forward is not implemented yet");
}

void CudaBackend::head_gate_forward(const Tensor& out, const Tensor& x, const Tensor& gate, float gain) {
  DG_THROW("cuda backend: head_gate_forward is not implemented yet");
}

void CudaBackend::head_gate_backward(const Tensor& dx, const Tensor& dgate, const Tensor& dout, const Tensor& x, const Tensor& gate, float gain) {
  DG_THROW("cuda backend: head_gate_backward is not implemented yet");
}

}  // namespace dg::cuda
