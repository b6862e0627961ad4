// A block's tensors inside a model's flat parameter buffer: the block adds them to the model's
// ParamLayout under its prefix ("blocks.0.loop_input_tau." + "mix.0"), remembers their specs, and
// later views them in whichever flat buffer the model passes (parameters, the QAT forward copy,
// or gradients: all share the layout's offsets).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "backend/tensor.h"
#include "model/param_layout.h"

namespace dg::blocks {

class BlockParams {
 public:
  explicit BlockParams(std::string prefix) : prefix_(std::move(prefix)) {}

  const std::string& prefix() const { return prefix_; }

  // layout.add(prefix + suffix, ...); returns the handle view() takes.
  int add(ParamLayout& layout, const std::string& suffix, std::vector<int64_t> shape, OptimGroup group, InitKind init,
          float init_value = 0.0f);
  // Re-reads every offset from `layout` by name: for a layout built elsewhere with the same tensors
  // (throws naming the first tensor it lacks or whose shape differs).
  void bind(const ParamLayout& layout);

  // The tensor `handle` inside `flat` (a 1-D F32 buffer of layout.buffer_elements() values).
  Tensor view(const Tensor& flat, int handle) const;
  const ParamSpec& spec(int handle) const { return specs_.at(static_cast<size_t>(handle)); }
  const std::vector<ParamSpec>& specs() const { return specs_; }

 private:
  std::string prefix_;
  std::vector<ParamSpec> specs_;
};

// The first elements of a planned buffer viewed with `dims`: activations are planned for the
// largest row count and used for fewer rows. Throws when `dims` needs more than the buffer holds.
Tensor leading_view(const Tensor& buffer, std::initializer_list<int64_t> dims);

}  // namespace dg::blocks
