// A model's flat parameter and gradient buffers on its backend, with named views, and the
// forward-weights indirection QAT uses: the forward pass reads params() unless pointed at a
// fake-quantized copy of the same layout, while gradients always land in grads().
#pragma once

#include <string>

#include "backend/backend.h"
#include "model/param_layout.h"

namespace dg {

class ParamBuffers {
 public:
  // `layout` must outlive the buffers.
  ParamBuffers(const ParamLayout& layout, Backend& backend);
  ~ParamBuffers();
  ParamBuffers(const ParamBuffers&) = delete;
  ParamBuffers& operator=(const ParamBuffers&) = delete;

  Tensor params() const { return params_; }
  Tensor grads() const { return grads_; }
  // The flat buffer the forward pass reads: params() or the QAT copy.
  Tensor forward_weights() const { return forward_weights_; }
  // An empty tensor restores params().
  void set_forward_weights(const Tensor& weights);
  // Flat views of one named tensor: what the forward pass reads, and its gradient.
  Tensor weight(const std::string& name) const { return slice(forward_weights_, name); }
  Tensor grad(const std::string& name) const { return slice(grads_, name); }

 private:
  Tensor slice(const Tensor& buffer, const std::string& name) const;
  const ParamLayout& layout_;
  Backend& backend_;
  void* params_memory_;
  void* grads_memory_;
  Tensor params_, grads_, forward_weights_;
};

}  // namespace dg
