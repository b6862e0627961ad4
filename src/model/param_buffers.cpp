#include "model/param_buffers.h"

#include "core/error.h"

namespace dg {

ParamBuffers::ParamBuffers(const ParamLayout& layout, Backend& backend)
    : layout_(layout),
      backend_(backend),
      params_memory_(backend.allocate(layout.buffer_elements() * 4)),
      grads_memory_(backend.allocate(layout.buffer_elements() * 4)) {
  const int64_t n = layout.buffer_elements();
  params_ = Tensor(params_memory_, DType::F32, backend.device(), {n});
  grads_ = Tensor(grads_memory_, DType::F32, backend.device(), {n});
  forward_weights_ = params_;
}

ParamBuffers::~ParamBuffers() {
  backend_.release(params_memory_);
  backend_.release(grads_memory_);
}

void ParamBuffers::set_forward_weights(const Tensor& weights) {
  if (weights.data == nullptr) {
    forward_weights_ = params_;
    return;
  }
  DG_CHECK(weights.numel() == params_.numel() && weights.device == params_.device,
           "forward weights must match the parameter buffer (" << params_.numel() << " floats)");
  forward_weights_ = weights;
}

Tensor ParamBuffers::slice(const Tensor& buffer, const std::string& name) const {
  const ParamSpec& spec = layout_.find(name);
  return buffer.slice(spec.offset, spec.offset + spec.numel());
}

}  // namespace dg
