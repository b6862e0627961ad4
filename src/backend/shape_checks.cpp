#include "backend/shape_checks.h"

#include <sstream>

namespace dg::shape_checks {
namespace {

void require_type(const char* op, const char* name, const Tensor& t, Device device, DType dtype) {
  DG_CHECK(t.dtype == dtype, op << ": " << name << " must be " << dtype_name(dtype) << ", got " << describe(t));
  DG_CHECK(t.device == device, op << ": " << name << " " << describe(t) << " is on the wrong device for this backend");
  DG_CHECK(t.ndim >= 1, op << ": " << name << " is an empty tensor view (rank 0)");
  DG_CHECK(t.data != nullptr || t.numel() == 0, op << ": " << name << " " << describe(t) << " has no data pointer");
}

}  // namespace

std::string describe(const Tensor& t) {
  std::ostringstream out;
  out << "[";
  for (int i = 0; i < t.ndim; ++i) out << (i ? ", " : "") << t.shape[i];
  out << "] " << dtype_name(t.dtype);
  return out.str();
}

void require_f32(const char* op, const char* name, const Tensor& t, Device device) {
  require_type(op, name, t, device, DType::F32);
}

void require_i32(const char* op, const char* name, const Tensor& t, Device device) {
  require_type(op, name, t, device, DType::I32);
}

void require_rank(const char* op, const char* name, const Tensor& t, int ndim) {
  DG_CHECK(t.ndim == ndim, op << ": " << name << " must have " << ndim << " dimensions, got " << describe(t));
}

void require_numel(const char* op, const char* name, const Tensor& t, int64_t numel, const char* what) {
  DG_CHECK(t.numel() == numel,
           op << ": " << name << " " << describe(t) << " must hold " << numel << " elements (" << what << ")");
}

void require_same_numel(const char* op, const char* name, const Tensor& t, const char* ref_name, const Tensor& ref) {
  DG_CHECK(t.numel() == ref.numel(), op << ": " << name << " " << describe(t) << " does not match " << ref_name << " "
                                        << describe(ref) << " (element counts differ)");
}

void require_same_rows(const char* op, const char* name, const Tensor& t, const char* ref_name, const Tensor& ref) {
  DG_CHECK(t.dim(-1) == ref.dim(-1) && t.rows() == ref.rows(),
           op << ": " << name << " " << describe(t) << " does not match " << ref_name << " " << describe(ref)
              << " (rows × last dimension differ)");
}

void require_same_shape(const char* op, const char* name, const Tensor& t, const char* ref_name, const Tensor& ref) {
  bool same = t.ndim == ref.ndim;
  for (int i = 0; same && i < t.ndim; ++i) same = t.shape[i] == ref.shape[i];
  DG_CHECK(same, op << ": " << name << " " << describe(t) << " does not match " << ref_name << " " << describe(ref));
}

void require_disjoint(const char* op, const char* name, const Tensor& t, const char* other_name, const Tensor& other) {
  const auto* a0 = static_cast<const char*>(t.data);
  const auto* b0 = static_cast<const char*>(other.data);
  const bool overlap = t.bytes() > 0 && other.bytes() > 0 && a0 < b0 + other.bytes() && b0 < a0 + t.bytes();
  DG_CHECK(!overlap, op << ": " << name << " and " << other_name << " share memory; this op needs them separate");
}

void require_ids_below(const char* op, const char* name, const Tensor& ids, int64_t limit) {
  const int32_t* p = static_cast<const int32_t*>(ids.data);
  const int64_t n = ids.numel();
  int64_t bad = -1;
  for (int64_t i = 0; i < n && bad < 0; ++i)
    if (p[i] < 0 || p[i] >= limit) bad = i;
  DG_CHECK(bad < 0, op << ": " << name << "[" << bad << "] = " << (bad >= 0 ? p[bad] : 0) << " is outside [0, "
                       << limit << ")");
}

}  // namespace dg::shape_checks
