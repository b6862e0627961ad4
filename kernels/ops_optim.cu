// PLACEHOLDER for the integration branch: replaced by the real kernels before merging into main.
#include "cuda_backend_impl.h"

namespace dg::cuda {

void CudaBackend::adam_update(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, const AdamHyper& hyper) {
  DG_THROW("cuda backend: adam_update is not implemented yet");
}

void CudaBackend::newton_schulz(const Tensor& out, const Tensor& g, int steps, const Tensor& workspace) {
  DG_THROW("cuda backend: newton_schulz is not implemented yet");
}

void CudaBackend::fake_quant_rows_forward(const Tensor& out, const Tensor& w) {
  DG_THROW("cuda backend: fake_quant_rows_forward is not implemented yet");
}

}  // namespace dg::cuda
