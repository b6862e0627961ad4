// Argument validation for backend ops: every mismatch throws dg::Error naming the op, the argument
// and the shapes involved ("rmsnorm_forward: out [4, 8] does not match x [4, 6]"). Nothing here is
// CPU-specific; another backend can use the same checks.
#pragma once

#include <cstdint>
#include <string>

#include "backend/tensor.h"

namespace dg::shape_checks {

std::string describe(const Tensor& t);  // "[2, 7, 4, 8] f32"

// dtype F32 (or I32), on `device`, and non-null unless empty.
void require_f32(const char* op, const char* name, const Tensor& t, Device device);
void require_i32(const char* op, const char* name, const Tensor& t, Device device);
void require_rank(const char* op, const char* name, const Tensor& t, int ndim);
void require_numel(const char* op, const char* name, const Tensor& t, int64_t numel, const char* what);
// Same element count (elementwise ops accept differently shaped views of the same data size).
void require_same_numel(const char* op, const char* name, const Tensor& t, const char* ref_name, const Tensor& ref);
// Same rows() and dim(-1) (row-wise ops).
void require_same_rows(const char* op, const char* name, const Tensor& t, const char* ref_name, const Tensor& ref);
// Identical rank and dimensions.
void require_same_shape(const char* op, const char* name, const Tensor& t, const char* ref_name, const Tensor& ref);
// The byte ranges of the two views do not overlap.
void require_disjoint(const char* op, const char* name, const Tensor& t, const char* other_name, const Tensor& other);
// Every id lies in [0, limit). Reads the ids: host (CPU) tensors only.
void require_ids_below(const char* op, const char* name, const Tensor& ids, int64_t limit);

}  // namespace dg::shape_checks
