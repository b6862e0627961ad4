#include "model/blocks/block_params.h"

#include "core/error.h"

namespace dg::blocks {

int BlockParams::add(ParamLayout& layout, const std::string& suffix, std::vector<int64_t> shape, OptimGroup group,
                     InitKind init, float init_value) {
  layout.add(prefix_ + suffix, std::move(shape), group, init, init_value);
  specs_.push_back(layout.specs().back());
  return static_cast<int>(specs_.size()) - 1;
}

void BlockParams::bind(const ParamLayout& layout) {
  for (ParamSpec& spec : specs_) {
    const ParamSpec& found = layout.find(spec.name);
    DG_CHECK(found.shape == spec.shape, "block parameter '" << spec.name << "' has another shape in this layout");
    spec.offset = found.offset;
  }
}

Tensor BlockParams::view(const Tensor& flat, int handle) const {
  const ParamSpec& s = spec(handle);
  DG_CHECK(flat.dtype == DType::F32 && flat.ndim == 1, "block parameter '" << s.name << "': the flat buffer must be 1-D f32");
  DG_CHECK(s.offset + s.numel() <= flat.numel(), "block parameter '" << s.name << "' lies outside the flat buffer of "
                                                                      << flat.numel() << " values");
  Tensor t = flat.slice(s.offset, s.offset + s.numel());
  t.ndim = static_cast<int>(s.shape.size());
  for (int i = 0; i < t.ndim; ++i) t.shape[i] = s.shape[static_cast<size_t>(i)];
  return t;
}

Tensor leading_view(const Tensor& buffer, std::initializer_list<int64_t> dims) {
  Tensor t(buffer.data, buffer.dtype, buffer.device, dims);
  DG_CHECK(t.numel() <= buffer.numel(), "block activations: " << t.numel() << " values needed, the planned buffer holds "
                                                               << buffer.numel() << " (more rows than planned?)");
  return t;
}

}  // namespace dg::blocks
