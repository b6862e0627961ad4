#include "backend/arena.h"

namespace dg {

Arena::~Arena() {
  if (base_ != nullptr) backend_.release(base_);
}

int Arena::reserve(DType dtype, std::initializer_list<int64_t> shape) {
  DG_CHECK(base_ == nullptr, "arena: reserve after commit");
  int64_t elements = 1;
  for (int64_t s : shape) elements *= s;
  constexpr int64_t kAlign = 256;
  const int64_t offset = (total_bytes_ + kAlign - 1) / kAlign * kAlign;
  total_bytes_ = offset + elements * dtype_size(dtype);
  slots_.push_back(Slot{dtype, std::vector<int64_t>(shape), offset});
  return static_cast<int>(slots_.size()) - 1;
}

void Arena::commit() {
  DG_CHECK(base_ == nullptr, "arena: committed twice");
  base_ = backend_.allocate(total_bytes_ > 0 ? total_bytes_ : 256);
}

Tensor Arena::get(int handle) const {
  DG_CHECK(base_ != nullptr, "arena: get before commit");
  const Slot& slot = slots_.at(static_cast<size_t>(handle));
  Tensor t;
  t.data = static_cast<char*>(base_) + slot.offset;
  t.dtype = slot.dtype;
  t.device = backend_.device();
  t.ndim = static_cast<int>(slot.shape.size());
  for (int i = 0; i < t.ndim; ++i) t.shape[i] = slot.shape[i];
  return t;
}

}  // namespace dg
