// One flat parameter buffer with named views (llm.c style): one all-reduce, one checkpoint write,
// one quantization pass. The layout lists every tensor in train_gpt.py's state_dict order with its
// shape, offset into the buffer, optimizer group and initialisation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.h"

namespace dg {

// Which optimizer updates a tensor, as train_gpt.py splits them.
enum class OptimGroup { TokenEmbedding, Head, Matrix, Scalar };
const char* optim_group_name(OptimGroup group);

enum class InitKind {
  Normal,         // N(0, value²)
  UniformFanIn,   // nn.Linear's default: U(−1/√fan_in, 1/√fan_in), fan_in = shape[1]
  Constant,       // every element = value
  ResidMix,       // row 0 ones, row 1 zeros
};

struct ParamSpec {
  std::string name;
  std::vector<int64_t> shape;
  OptimGroup group = OptimGroup::Scalar;
  InitKind init = InitKind::Constant;
  float init_value = 0.0f;
  int64_t offset = 0;  // into the flat buffer, in elements
  int64_t numel() const;
  int64_t rows() const { return shape.size() == 2 ? shape[0] : 1; }
  int64_t cols() const { return shape.size() == 2 ? shape[1] : numel(); }
};

class ParamLayout {
 public:
  // Appends a tensor; offsets are assigned in order, each aligned to 64 elements so every view
  // is 256-byte aligned on every backend.
  void add(std::string name, std::vector<int64_t> shape, OptimGroup group, InitKind init, float init_value = 0.0f);

  const std::vector<ParamSpec>& specs() const { return specs_; }
  const ParamSpec& find(const std::string& name) const;  // throws naming the tensor
  int64_t buffer_elements() const { return buffer_elements_; }
  // Number of parameters (what train_gpt.py prints as model_params), excluding alignment padding.
  int64_t parameter_count() const;

  // Fills `buffer` (buffer_elements() floats, host memory) with the initial values.
  void initialize(float* buffer, uint64_t seed) const;

 private:
  std::vector<ParamSpec> specs_;
  int64_t buffer_elements_ = 0;
};

}  // namespace dg
