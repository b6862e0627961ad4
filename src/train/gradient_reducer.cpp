#include "train/gradient_reducer.h"

#include <algorithm>

#include "core/error.h"

namespace dg {

GradientReducer::GradientReducer(dist::Communicator& comm, const Tensor& grads)
    : comm_(comm), grads_(grads.view({grads.numel()})) {}

void GradientReducer::reduce_final(int64_t begin, int64_t end) {
  DG_CHECK(0 <= begin && begin < end && end <= grads_.numel(),
           "gradient reducer: range [" << begin << ", " << end << ") outside the " << grads_.numel() << "-element buffer");
  for (const auto& [b, e] : reported_)
    DG_CHECK(end <= b || e <= begin, "gradient reducer: range [" << begin << ", " << end << ") overlaps [" << b << ", "
                                                                  << e << "), already averaged this step");
  comm_.all_reduce(grads_.slice(begin, end), dist::ReduceOp::Avg);
  reported_.emplace_back(begin, end);
}

void GradientReducer::finish() {
  early_buckets_ = static_cast<int64_t>(reported_.size());
  std::sort(reported_.begin(), reported_.end());
  int64_t next = 0;  // the first element not yet averaged
  for (const auto& [b, e] : reported_) {
    if (next < b) comm_.all_reduce(grads_.slice(next, b), dist::ReduceOp::Avg);
    next = e;
  }
  if (next < grads_.numel()) comm_.all_reduce(grads_.slice(next, grads_.numel()), dist::ReduceOp::Avg);
  reported_.clear();
  comm_.wait();
}

}  // namespace dg
