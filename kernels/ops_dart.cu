// PLACEHOLDER for the integration branch: replaced by the real kernels before merging into main.
#include "cuda_backend_impl.h"

namespace dg::cuda {

void CudaBackend::memory_concat_forward(const Tensor& x, const Tensor& memory, const Tensor& tok) {
  DG_THROW("cuda backend: memory_concat_forward is not implemented yet");
}

void CudaBackend::memory_concat_backward(const Tensor& dmemory, const Tensor& dtok, const Tensor& dx) {
  DG_THROW("cuda backend: memory_concat_backward is not implemented yet");
}

void CudaBackend::token_rows_forward(const Tensor& out, const Tensor& x) {
  DG_THROW("cuda backend: token_rows_forward is not implemented yet");
}

void CudaBackend::token_rows_backward(const Tensor& dx, const Tensor& dout) {
  DG_THROW("cuda backend: token_rows_backward is not implemented yet");
}

void CudaBackend::add_vector_forward(const Tensor& x, const Tensor& v) {
  DG_THROW("cuda backend: add_vector_forward is not implemented yet");
}

void CudaBackend::add_vector_backward(const Tensor& dv, const Tensor& dx) {
  DG_THROW("cuda backend: add_vector_backward is not implemented yet");
}

void CudaBackend::tile_columns_forward(const Tensor& out, const Tensor& x) {
  DG_THROW("cuda backend: tile_columns_forward is not implemented yet");
}

void CudaBackend::tile_columns_backward(const Tensor& dx, const Tensor& dout) {
  DG_THROW("cuda backend: tile_columns_backward is not implemented yet");
}

void CudaBackend::diff_lambda_forward(const Tensor& lambda, const Tensor& lq1, const Tensor& lk1, const Tensor& lq2, const Tensor& lk2, float lambda_init) {
  DG_THROW("cuda backend: diff_lambda_forward is not implemented yet");
}

void CudaBackend::diff_lambda_backward(const Tensor& dlq1, const Tensor& dlk1, const Tensor& dlq2, const Tensor& dlk2, const Tensor& dlambda, const Tensor& lq1, const Tensor& lk1, const Tensor& lq2, const Tensor& lk2) {
  DG_THROW("cuda backend: diff_lambda_backward is not implemented yet");
}

void CudaBackend::diff_combine_forward(const Tensor& out, const Tensor& a, const Tensor& lambda, bool interleaved) {
  DG_THROW("cuda backend: diff_combine_forward is not implemented yet");
}

void CudaBackend::diff_combine_backward(const Tensor& da, const Tensor& dlambda, const Tensor& dout, const Tensor& a, const Tensor& lambda, bool interleaved) {
  DG_THROW("cuda backend: diff_combine_backward is not implemented yet");
}

}  // namespace dg::cuda
