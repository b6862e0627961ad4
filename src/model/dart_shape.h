// DART's dimensions and switches, read from a run config and validated once (docs/dart.md).
// B unique blocks × L loops: pass p = l·B + b runs block b with its loop-l tensors. The PR's
// submission (preset pr345) is B = 1, L = 4, M = 16 memory tokens, rank-16 W_q deltas, the PR's
// differential attention, W_q fake-quant on, deep supervision γ = 0.9.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "model/blocks/block_spec.h"

namespace dg {

struct DartShape {
  enum class Attention { Diff, DiffV2 };          // the PR's two-query/two-key form, or Microsoft's DIFF V2
  enum class EvalLoss { LastLoop, DeepSupervision };  // what evaluation scores

  int64_t vocab_size = 1024;
  int64_t model_dim = 512;
  int64_t num_heads = 8;
  int64_t num_kv_heads = 4;
  int64_t head_dim = 64;
  int64_t mlp_hidden = 2048;
  float rope_base = 10000.0f;
  float logit_softcap = 30.0f;
  float qk_gain_init = 1.0f;
  float tied_embed_init_std = 0.005f;

  int64_t num_unique_blocks = 1;  // B
  int64_t num_loops = 4;          // L
  int64_t num_memory_tokens = 16; // M
  int64_t delta_rank = 16;        // r of the per-loop W_q delta (0: none)
  double deep_sup_gamma = 0.9;    // loop l of n weighs γ^(n−1−l) in the training loss
  Attention attention = Attention::Diff;
  bool qat_wq = true;             // the PR's per-row int8 fake-quant of W_q,eff
  EvalLoss eval_loss = EvalLoss::LastLoop;
  bool loop_dropout = false;      // training draws the number of loops per batch
  int64_t loop_dropout_min_loops = 1;
  uint64_t seed = 1337;           // seeds the loop-dropout draws
  std::vector<blocks::BlockSpec> blocks;  // pluggable blocks at their use sites (docs/blocks.md)

  // The PR's λ_init (the Differential Transformer's 0.8 − 0.6·e^{−0.3·depth} at depth 1), in double
  // as Python computes it; the λ op adds it to fp32 values as torch adds a Python float.
  static double lambda_init();

  bool diff_v2() const { return attention == Attention::DiffV2; }
  int64_t q_heads() const { return 2 * num_heads; }  // two query sets (diff) or 2H heads (DIFF V2)
  int64_t k_heads() const { return diff_v2() ? num_kv_heads : 2 * num_kv_heads; }
  int64_t q_width() const { return q_heads() * head_dim; }  // = 2d
  int64_t k_width() const { return k_heads() * head_dim; }
  int64_t v_width() const { return num_kv_heads * head_dim; }
  int64_t num_passes() const { return num_unique_blocks * num_loops; }
  // Whether pass weights W_q,eff differ from c_q (a delta or the fake-quant): then it needs its own buffer.
  bool separate_wq() const { return delta_rank > 0 || qat_wq; }

  // U-Net across loops for a run of n loops: the first n/2 push, the next n/2 pop.
  static int64_t encoder_loops(int64_t n) { return n / 2; }
  static int64_t skip_count(int64_t n) { return n / 2 < n - n / 2 ? n / 2 : n - n / 2; }
  // Normalised deep-supervision weights of a run of n loops: γ^(n−1−l) / Σ.
  std::vector<double> loop_weights(int64_t n) const;

  // Throws naming the setting when a value is out of range or shapes do not divide.
  static DartShape from_config(const Config& config);
};

const char* attention_name(DartShape::Attention attention);
const char* eval_loss_name(DartShape::EvalLoss eval_loss);

}  // namespace dg
