// The pluggable blocks of one DART model (docs/blocks.md, "DART use sites"): the module instances
// the `blocks` setting asks for — per unique block at loop_input, attn_output, mlp_input and
// block_output, and the model-level loop_output — their tensors in the layout, their activations
// (one set per pass that uses them) and the forward/backward of each site. DartModel calls a site's
// functions at that site; without blocks every site is a no-op the model skips.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backend/arena.h"
#include "backend/backend.h"
#include "model/block_observation.h"
#include "model/blocks/daam.h"
#include "model/blocks/head_gate.h"
#include "model/blocks/tau_fusion.h"
#include "model/dart_shape.h"

namespace dg {

// What every site function needs: the backend, the arena holding the activations, the flat
// parameter buffer the forward reads and the flat gradient buffer, and the rows (batch × (M + T)).
struct BlockContext {
  Backend& backend;
  const Arena& arena;
  Tensor params, grads;
  int64_t rows;
};

class DartBlocks {
 public:
  explicit DartBlocks(const DartShape& shape);
  ~DartBlocks();

  // Adds unique block b's block tensors (after its own) / the model-level ones (at the end), in config order.
  void add_block_params(int64_t block, ParamLayout& layout);
  void add_model_params(ParamLayout& layout);
  // Adopts the offsets of a layout built by build_dart_layout for the same shape.
  void bind(const ParamLayout& layout);
  // Reserves every use's activations (passes, N rows each) and the shared scratch; before arena.commit().
  void plan(Arena& arena, int64_t max_rows);

  bool any() const { return !shape_.blocks.empty(); }
  bool has_loop_input() const { return !loop_input_.empty(); }
  bool has_attn_output() const { return !attn_output_.empty(); }
  bool has_head_gate() const;
  bool has_mlp_input() const { return !mlp_input_.empty(); }
  bool has_block_output() const { return !block_output_.empty(); }
  bool has_loop_output() const { return loop_output_ != nullptr; }
  // Whether loop_input fuses a third stream (the U-Net skip) at all.
  bool loop_input_skip_stream() const;

  // loop_input at pass p: out = τ(x, x0[, skip]); `skip` empty: zeros (no skip on this loop).
  void loop_input_forward(const BlockContext& c, int64_t pass, const Tensor& x, const Tensor& x0, const Tensor& skip,
                          const Tensor& out);
  // Adds into dx, dx0 and (a non-empty) dskip.
  void loop_input_backward(const BlockContext& c, int64_t pass, const Tensor& x, const Tensor& x0, const Tensor& skip,
                           const Tensor& dx, const Tensor& dx0, const Tensor& dskip, const Tensor& dout);

  // attn_output at pass p: the chain of blocks over comb [N, d]; returns what the projection reads.
  Tensor attn_output_forward(const BlockContext& c, int64_t pass, const Tensor& attn_norm, const Tensor& comb);
  // dfinal: ∂/∂(the returned tensor) (consumed); dcomb receives ∂/∂comb (overwritten); the head
  // gate's path into its input is ADDED into dnorm.
  void attn_output_backward(const BlockContext& c, int64_t pass, const Tensor& attn_norm, const Tensor& comb,
                            const Tensor& dfinal, const Tensor& dcomb, const Tensor& dnorm);

  // mlp_input / block_output at pass p: out = DAAM(x). Backward: dx is overwritten with ∂/∂x.
  Tensor mlp_input_forward(const BlockContext& c, int64_t pass, const Tensor& x);
  void mlp_input_backward(const BlockContext& c, int64_t pass, const Tensor& x, const Tensor& dx, const Tensor& dout);
  Tensor block_output_forward(const BlockContext& c, int64_t pass, const Tensor& x);
  void block_output_backward(const BlockContext& c, int64_t pass, const Tensor& x, const Tensor& dx,
                             const Tensor& dout);
  // What a site produced in the last forward at pass p (rows N): the attention chain's result the
  // projection read, the MLP's gated input, the gated pass output; and the fused loop output.
  Tensor attn_output_value(const Arena& arena, int64_t pass, int64_t rows) const;
  Tensor mlp_input_value(const Arena& arena, int64_t pass, int64_t rows) const;
  Tensor block_output_value(const Arena& arena, int64_t pass, int64_t rows) const;
  Tensor loop_output_value(const Arena& arena, int64_t rows) const;

  // loop_output: L streams into the last loop's head input; returns the fused [N, d].
  Tensor loop_output_forward(const BlockContext& c, std::span<const Tensor> loop_outputs);
  void loop_output_backward(const BlockContext& c, std::span<const Tensor> loop_outputs,
                            std::span<const Tensor> dloop_outputs, const Tensor& dout);

  // Every use of the last forward (which ran `loops` loops over `sequences` sequences) of blocks of
  // `type` (empty: all), token rows only: the memory rows of each sequence are dropped.
  void observe(const BlockContext& c, int64_t loops, int64_t sequences, std::string_view type,
               std::vector<BlockObservation>& out) const;

 private:
  struct Use;  // one block instance at one site (of one unique block), with one activation set per loop
  Use* at(const std::vector<std::unique_ptr<Use>>& uses, int64_t pass) const;
  Tensor zero_stream(const BlockContext& c) const;  // loop_input's skip stream where there is no skip
  Tensor daam_forward(const BlockContext& c, const Use& use, int64_t pass, const Tensor& x) const;
  void daam_backward(const BlockContext& c, const Use& use, int64_t pass, const Tensor& x, const Tensor& dx,
                     const Tensor& dout) const;
  void observe_use(const BlockContext& c, const Use& use, int64_t loop, int64_t sequences,
                   std::vector<BlockObservation>& out) const;

  DartShape shape_;
  // Indexed by unique block; attn_output holds each block's chain in config order.
  std::vector<std::unique_ptr<Use>> loop_input_, mlp_input_, block_output_;
  std::vector<std::vector<std::unique_ptr<Use>>> attn_output_;
  std::unique_ptr<Use> loop_output_;
  int dbuf_a_ = -1, dbuf_b_ = -1, zeros_ = -1, sink_ = -1;  // [N, d] scratch shared by the sites
  bool zeros_filled_ = false;
};

}  // namespace dg
