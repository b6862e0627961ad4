// PLACEHOLDER for the integration branch: replaced by the real kernels before merging into main.
#include "cuda_backend_impl.h"

namespace dg::cuda {

void CudaBackend::embedding_forward(const Tensor& out, const Tensor& table, const Tensor& ids) {
  DG_THROW("cuda backend: embedding_forward is not implemented yet");
}

void CudaBackend::embedding_backward(const Tensor& dtable, const Tensor& dout, const Tensor& ids) {
  DG_THROW("cuda backend: embedding_backward is not implemented yet");
}

void CudaBackend::softcap_ce_forward(const Tensor& losses, const Tensor& logits, const Tensor& targets, float cap) {
  DG_THROW("cuda backend: softcap_ce_forward is not implemented yet");
}

void CudaBackend::softcap_ce_backward(const Tensor& dlogits, const Tensor& logits, const Tensor& targets, float cap, float weight) {
  DG_THROW("cuda backend: softcap_ce_backward is not implemented yet");
}

}  // namespace dg::cuda
