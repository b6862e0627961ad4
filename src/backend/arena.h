// Activation memory planned up front: a model lists every buffer it needs for its largest batch,
// the arena allocates them as one block, and nothing is allocated inside a training step.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "backend/backend.h"

namespace dg {

class Arena {
 public:
  explicit Arena(Backend& backend) : backend_(backend) {}
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // Planning phase: reserve a tensor; returns a handle resolved by get() after commit().
  int reserve(DType dtype, std::initializer_list<int64_t> shape);
  // Allocates one block holding every reserved tensor (each 256-byte aligned).
  void commit();
  Tensor get(int handle) const;
  int64_t bytes() const { return total_bytes_; }

 private:
  struct Slot {
    DType dtype;
    std::vector<int64_t> shape;
    int64_t offset;
  };
  Backend& backend_;
  std::vector<Slot> slots_;
  int64_t total_bytes_ = 0;
  void* base_ = nullptr;
};

}  // namespace dg
