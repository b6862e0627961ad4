// Sharded Muon: which rank orthogonalises which matrix. As in train_gpt.py's Muon, matrix i of the
// Muon group (in the layout's order) belongs to rank i % world_size. Each rank writes its matrices'
// updates into its own block of equal size (the largest share), one all-gather hands every rank
// every block, and every rank applies all updates: the same arithmetic as unsharded Muon, matrix
// by matrix, so the weights come out bit-identical (tests/dist/test_sharded_muon.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "model/param_layout.h"

namespace dg {

struct MuonShards {
  struct Matrix {
    const ParamSpec* spec;
    int owner;            // the rank that orthogonalises it
    int64_t block_offset;  // where its update sits in its owner's block (elements, 64-aligned)
  };
  std::vector<Matrix> matrices;  // every Muon matrix, in the layout's order
  int world_size = 1;
  int64_t block_elements = 0;    // one rank's block: the largest share, padded alike on every rank

  static MuonShards plan(const ParamLayout& layout, int world_size);
  // Where matrix m's update lies in the gathered buffer (world_size blocks).
  int64_t gathered_offset(const Matrix& m) const { return m.owner * block_elements + m.block_offset; }
};

}  // namespace dg
