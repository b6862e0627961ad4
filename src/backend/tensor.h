// Non-owning views of device memory: what every backend op takes. Views are contiguous, row-major,
// up to 4 dimensions; reshaping is free, and a leading-dimension range is a view too.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>

#include "core/error.h"

namespace dg {

// F64 holds host-side totals that ranks add up exactly enough (losses, validation sums), never model data.
enum class DType : uint8_t { F32, BF16, I32, U16, F64 };
enum class Device : uint8_t { CPU, CUDA };

inline int dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::I32: return 4;
    case DType::BF16: return 2;
    case DType::U16: return 2;
    case DType::F64: return 8;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::BF16: return "bf16";
    case DType::I32: return "i32";
    case DType::U16: return "u16";
    case DType::F64: return "f64";
  }
  return "?";
}

struct Tensor {
  void* data = nullptr;
  DType dtype = DType::F32;
  Device device = Device::CPU;
  int ndim = 0;
  std::array<int64_t, 4> shape{0, 0, 0, 0};

  Tensor() = default;
  Tensor(void* d, DType t, Device dev, std::initializer_list<int64_t> dims) : data(d), dtype(t), device(dev) {
    DG_CHECK(dims.size() >= 1 && dims.size() <= 4, "tensor rank must be 1..4, got " << dims.size());
    for (int64_t s : dims) shape[ndim++] = s;
  }
  static Tensor f32(float* d, std::initializer_list<int64_t> dims, Device dev = Device::CPU) {
    return Tensor(d, DType::F32, dev, dims);
  }
  static Tensor i32(int32_t* d, std::initializer_list<int64_t> dims, Device dev = Device::CPU) {
    return Tensor(d, DType::I32, dev, dims);
  }
  static Tensor f64(double* d, std::initializer_list<int64_t> dims, Device dev = Device::CPU) {
    return Tensor(d, DType::F64, dev, dims);
  }

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return ndim == 0 ? 0 : n;
  }
  // Size of dimension i; negative i counts from the end.
  int64_t dim(int i) const { return shape[i < 0 ? ndim + i : i]; }
  // Product of all dimensions but the last: the "rows" of a row-wise op.
  int64_t rows() const { return dim(-1) == 0 ? 0 : numel() / dim(-1); }
  int64_t bytes() const { return numel() * dtype_size(dtype); }

  float* f32() const {
    DG_CHECK(dtype == DType::F32, "tensor is not float32");
    return static_cast<float*>(data);
  }
  int32_t* i32() const {
    DG_CHECK(dtype == DType::I32, "tensor is not int32");
    return static_cast<int32_t*>(data);
  }

  // Same memory, new shape (same element count).
  Tensor view(std::initializer_list<int64_t> dims) const {
    Tensor t(data, dtype, device, dims);
    DG_CHECK(t.numel() == numel(), "view: element count " << t.numel() << " != " << numel());
    return t;
  }
  // Rows [begin, end) of the leading dimension.
  Tensor slice(int64_t begin, int64_t end) const {
    DG_CHECK(0 <= begin && begin <= end && end <= shape[0], "slice [" << begin << "," << end << ") out of range " << shape[0]);
    Tensor t = *this;
    const int64_t row_elems = numel() / shape[0];
    t.data = static_cast<char*>(data) + begin * row_elems * dtype_size(dtype);
    t.shape[0] = end - begin;
    return t;
  }
};

}  // namespace dg
