// An llm.c-style RMSNorm forward: one warp per row (a shuffle reduction of Σx²), the weight vector
// cached once per block in dynamic shared memory. out = x · rsqrt(mean(x²) + eps) · weight.
#pragma once

#include <vector>

namespace dg::test {

struct RmsnormOutput {
  std::vector<float> out;   // [rows, cols]; with bf16 the bf16 output widened to float
  std::vector<float> rstd;  // [rows]
};

// bf16: x and weight are rounded to bf16 on the way in and out is bf16 (fp32 arithmetic inside).
RmsnormOutput rmsnorm_forward(const std::vector<float>& x, const std::vector<float>& weight, int rows, int cols,
                              float eps, bool bf16);

}  // namespace dg::test
