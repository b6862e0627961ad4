// PLACEHOLDER for the integration branch: replaced by the real kernels before merging into main.
#include "cuda_backend_impl.h"

namespace dg::cuda {

void CudaBackend::axpy(const Tensor& y, float alpha, const Tensor& x) {
  DG_THROW("cuda backend: axpy is not implemented yet");
}

void CudaBackend::scale(const Tensor& x, float alpha) {
  DG_THROW("cuda backend: scale is not implemented yet");
}

double CudaBackend::sum_squares(const Tensor& x) {
  DG_THROW("cuda backend: sum_squares is not implemented yet");
}

void CudaBackend::relu2_forward(const Tensor& out, const Tensor& x) {
  DG_THROW("cuda backend: relu2_forward is not implemented yet");
}

void CudaBackend::relu2_backward(const Tensor& dx, const Tensor& dout, const Tensor& x) {
  DG_THROW("cuda backend: relu2_backward is not implemented yet");
}

void CudaBackend::resid_mix_forward(const Tensor& out, const Tensor& x, const Tensor& x0, const Tensor& mix) {
  DG_THROW("cuda backend: resid_mix_forward is not implemented yet");
}

void CudaBackend::resid_mix_backward(const Tensor& dx, const Tensor& dx0, const Tensor& dmix, const Tensor& dout, const Tensor& x, const Tensor& x0, const Tensor& mix) {
  DG_THROW("cuda backend: resid_mix_backward is not implemented yet");
}

void CudaBackend::add_scaled_forward(const Tensor& x, const Tensor& s, const Tensor& y) {
  DG_THROW("cuda backend: add_scaled_forward is not implemented yet");
}

void CudaBackend::add_scaled_backward(const Tensor& dy, const Tensor& ds, const Tensor& dx, const Tensor& s, const Tensor& y) {
  DG_THROW("cuda backend: add_scaled_backward is not implemented yet");
}

void CudaBackend::head_scale_forward(const Tensor& out, const Tensor& x, const Tensor& gain) {
  DG_THROW("cuda backend: head_scale_forward is not implemented yet");
}

void CudaBackend::head_scale_backward(const Tensor& dx, const Tensor& dgain, const Tensor& dout, const Tensor& x, const Tensor& gain) {
  DG_THROW("cuda backend: head_scale_backward is not implemented yet");
}

void CudaBackend::sigmoid_forward(const Tensor& out, const Tensor& x) {
  DG_THROW("cuda backend: sigmoid_forward is not implemented yet");
}

void CudaBackend::sigmoid_backward(const Tensor& dx, const Tensor& dout, const Tensor& out) {
  DG_THROW("cuda backend: sigmoid_backward is not implemented yet");
}

void CudaBackend::gelu_forward(const Tensor& out, const Tensor& x) {
  DG_THROW("cuda backend: gelu_forward is not implemented yet");
}

void CudaBackend::gelu_backward(const Tensor& dx, const Tensor& dout, const Tensor& x) {
  DG_THROW("cuda backend: gelu_backward is not implemented yet");
}

void CudaBackend::gated_add_forward(const Tensor& x, const Tensor& gate, const Tensor& s, const Tensor& y) {
  DG_THROW("cuda backend: gated_add_forward is not implemented yet");
}

void CudaBackend::gated_add_backward(const Tensor& dy, const Tensor& dgate, const Tensor& ds, const Tensor& dx, const Tensor& gate, const Tensor& s, const Tensor& y) {
  DG_THROW("cuda backend: gated_add_backward is not implemented yet");
}

}  // namespace dg::cuda
