// Averages the gradient over the ranks in buckets handed over during backward. The model reports
// each range of its flat gradient buffer that backward will no longer change (a GPT block's tensors
// once that block's backward is done: LanguageModel::report_final_gradients) and the range is
// all-reduced at once. The NCCL communicator queues it on its own stream, so on GPUs it runs while
// backward computes the blocks below; Gloo finishes it before returning, with the same result.
// finish() reduces whatever was never reported (embeddings, skip weights, DART's shared blocks,
// the layout's alignment gaps) and waits: then every element has been averaged exactly once.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "backend/tensor.h"
#include "dist/communicator.h"

namespace dg {

class GradientReducer {
 public:
  GradientReducer(dist::Communicator& comm, const Tensor& grads);

  // Averages grads[begin, end) now; it must not overlap a range already reported this step.
  void reduce_final(int64_t begin, int64_t end);
  // Averages every element not reported since the last finish(), then waits for all of them.
  void finish();
  // Ranges reduced while backward ran, in the last finished step (the log's overlap count).
  int64_t early_buckets() const { return early_buckets_; }

 private:
  dist::Communicator& comm_;
  Tensor grads_;
  std::vector<std::pair<int64_t, int64_t>> reported_;
  int64_t early_buckets_ = 0;
};

}  // namespace dg
