#include "model/param_layout.h"

#include <cmath>
#include <cstring>

#include "core/error.h"

namespace dg {

const char* optim_group_name(OptimGroup group) {
  switch (group) {
    case OptimGroup::TokenEmbedding: return "token_embedding";
    case OptimGroup::Head: return "head";
    case OptimGroup::Matrix: return "matrix";
    case OptimGroup::Scalar: return "scalar";
  }
  return "?";
}

int64_t ParamSpec::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

void ParamLayout::add(std::string name, std::vector<int64_t> shape, OptimGroup group, InitKind init, float init_value) {
  ParamSpec spec{std::move(name), std::move(shape), group, init, init_value, 0};
  constexpr int64_t kAlign = 64;
  spec.offset = (buffer_elements_ + kAlign - 1) / kAlign * kAlign;
  buffer_elements_ = spec.offset + spec.numel();
  specs_.push_back(std::move(spec));
}

const ParamSpec& ParamLayout::find(const std::string& name) const {
  for (const ParamSpec& spec : specs_)
    if (spec.name == name) return spec;
  DG_THROW("model has no parameter named '" << name << "'");
}

int64_t ParamLayout::parameter_count() const {
  int64_t n = 0;
  for (const ParamSpec& spec : specs_) n += spec.numel();
  return n;
}

void ParamLayout::initialize(float* buffer, uint64_t seed) const {
  std::memset(buffer, 0, sizeof(float) * static_cast<size_t>(buffer_elements_));
  Rng rng(seed);
  for (const ParamSpec& spec : specs_) {
    float* p = buffer + spec.offset;
    const int64_t n = spec.numel();
    switch (spec.init) {
      case InitKind::Normal:
        for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(rng.normal(0.0, spec.init_value));
        break;
      case InitKind::UniformFanIn: {
        const double bound = 1.0 / std::sqrt(static_cast<double>(spec.cols()));
        for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(rng.uniform(-bound, bound));
        break;
      }
      case InitKind::Constant:
        for (int64_t i = 0; i < n; ++i) p[i] = spec.init_value;
        break;
      case InitKind::ResidMix: {
        // [2, d] (gpt) or [2, L, d] (DART's per-loop mixes): the first half ones, the second zeros.
        const int64_t d = spec.numel() / 2;
        for (int64_t i = 0; i < d; ++i) p[i] = 1.0f, p[d + i] = 0.0f;
        break;
      }
    }
  }
}

}  // namespace dg
