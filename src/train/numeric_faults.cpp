#include "train/numeric_faults.h"

#include <cmath>
#include <sstream>
#include <vector>

namespace dg {

std::string first_non_finite_tensor(const ParamLayout& layout, Backend& backend, const Tensor& buffer) {
  std::vector<float> host(static_cast<size_t>(buffer.numel()));
  backend.copy_to_host(host.data(), buffer);
  for (const ParamSpec& spec : layout.specs()) {
    for (int64_t i = 0; i < spec.numel(); ++i) {
      const float v = host[static_cast<size_t>(spec.offset + i)];
      if (std::isfinite(v)) continue;
      std::ostringstream text;
      text << spec.name << " (" << v << " at element " << i << ")";
      return text.str();
    }
  }
  return "";
}

}  // namespace dg
