#include "model/dart_blocks.h"

#include <array>

#include "core/error.h"
#include "model/dart_layout.h"

namespace dg {

using blocks::BlockSite;
using blocks::BlockSpec;
using blocks::BlockType;

struct DartBlocks::Use {
  BlockSpec spec;
  std::string name;    // the tensor prefix without its final dot
  int64_t block = -1;  // unique block; -1 model-level
  std::unique_ptr<blocks::TauFusion> tau;
  std::unique_ptr<blocks::Daam> daam;
  std::unique_ptr<blocks::HeadGate> gate;
  // One per loop (model-level: one).
  std::vector<blocks::TauFusion::Activations> tau_acts;
  std::vector<blocks::Daam::Activations> daam_acts;
  std::vector<blocks::HeadGate::Activations> gate_acts;
  std::vector<int> outputs;               // DAAM / head gate output [N, d]
  mutable std::vector<Tensor> inputs;     // what each loop's forward read (DAAM density for observe)
  blocks::TauFusion::Scratch tau_scratch;
  blocks::HeadGate::Scratch gate_scratch;
  int density = -1;  // DAAM [N, g] scratch for observe

  void add_params(ParamLayout& layout) {
    if (tau) tau->add_params(layout);
    if (daam) daam->add_params(layout);
    if (gate) gate->add_params(layout);
  }
  void bind(const ParamLayout& layout) {
    if (tau) tau->bind(layout);
    if (daam) daam->bind(layout);
    if (gate) gate->bind(layout);
  }
  Tensor output(const Arena& arena, int64_t loop, int64_t rows, int64_t width) const {
    return arena.get(outputs[static_cast<size_t>(loop)]).slice(0, rows).view({rows, width});
  }
};

namespace {

// Stream names of a τ-fusion use, as logs and inspect show them.
std::vector<std::string> tau_channels(const BlockSpec& spec, int64_t streams) {
  std::vector<std::string> names;
  if (spec.site == BlockSite::LoopInput) {
    names = {"x", "x0", "skip"};
    names.resize(static_cast<size_t>(streams));
  } else {
    for (int64_t i = 0; i < streams; ++i) names.push_back("loop" + std::to_string(i));
  }
  return names;
}

std::vector<std::string> numbered(const char* stem, int64_t count) {
  std::vector<std::string> names;
  for (int64_t i = 0; i < count; ++i) names.push_back(stem + std::to_string(i));
  return names;
}

}  // namespace

DartBlocks::DartBlocks(const DartShape& shape) : shape_(shape) {
  const int64_t B = shape.num_unique_blocks, d = shape.model_dim;
  loop_input_.resize(static_cast<size_t>(B));
  mlp_input_.resize(static_cast<size_t>(B));
  block_output_.resize(static_cast<size_t>(B));
  attn_output_.resize(static_cast<size_t>(B));
  const bool skip = DartShape::skip_count(shape.num_loops) > 0;
  for (const BlockSpec& spec : shape.blocks) {
    const std::string site_type = std::string(blocks::block_site_name(spec.site)) + "." + blocks::block_type_name(spec.type);
    auto make = [&](int64_t block) {
      auto use = std::make_unique<Use>();
      use->spec = spec;
      use->block = block;
      const std::string prefix = (block < 0 ? std::string() : dart_block_prefix(shape, block)) + site_type + ".";
      use->name = prefix.substr(0, prefix.size() - 1);
      switch (spec.type) {
        case BlockType::TauFusion: {
          std::vector<double> mix;
          if (spec.site == BlockSite::LoopInput) {
            // (1, 0[, 0]): step 0 is resid_mix's (1, 0) init, x itself.
            mix = {1.0, 0.0};
            if (spec.skip_stream && skip) mix.push_back(0.0);
          } else {
            // (0, ..., 0, 1): step 0 reads the last loop's output.
            mix.assign(static_cast<size_t>(shape.num_loops), 0.0);
            mix.back() = 1.0;
          }
          const int64_t streams = static_cast<int64_t>(mix.size());
          use->tau = std::make_unique<blocks::TauFusion>(blocks::tau_fusion_config(spec, streams, d, mix), prefix);
          break;
        }
        case BlockType::Daam:
          use->daam = std::make_unique<blocks::Daam>(blocks::daam_config(spec, d), prefix);
          break;
        case BlockType::HeadGate:
          use->gate = std::make_unique<blocks::HeadGate>(
              blocks::head_gate_config(spec, d, shape.num_heads, shape.head_dim), prefix);
          break;
      }
      return use;
    };
    if (blocks::is_model_level(spec.site)) {
      loop_output_ = make(-1);
      continue;
    }
    for (int64_t b = 0; b < B; ++b) {
      switch (spec.site) {
        case BlockSite::LoopInput: loop_input_[static_cast<size_t>(b)] = make(b); break;
        case BlockSite::AttnOutput: attn_output_[static_cast<size_t>(b)].push_back(make(b)); break;
        case BlockSite::MlpInput: mlp_input_[static_cast<size_t>(b)] = make(b); break;
        case BlockSite::BlockOutput: block_output_[static_cast<size_t>(b)] = make(b); break;
        case BlockSite::LoopOutput: break;
      }
    }
  }
  // A site nobody uses holds no entries at all: has_*() test emptiness.
  auto drop_unused = [](auto& per_block) {
    if (!per_block.empty() && !per_block[0]) per_block.clear();
  };
  drop_unused(loop_input_);
  drop_unused(mlp_input_);
  drop_unused(block_output_);
  if (!attn_output_.empty() && attn_output_[0].empty()) attn_output_.clear();
}

DartBlocks::~DartBlocks() = default;

bool DartBlocks::has_head_gate() const {
  for (const auto& chain : attn_output_)
    for (const auto& use : chain)
      if (use->gate) return true;
  return false;
}

bool DartBlocks::loop_input_skip_stream() const {
  return has_loop_input() && loop_input_[0]->tau->config().streams == 3;
}

void DartBlocks::add_block_params(int64_t block, ParamLayout& layout) {
  // Config order, whatever the site: the order the entries were written in is the checkpoint's.
  for (const BlockSpec& spec : shape_.blocks) {
    const size_t b = static_cast<size_t>(block);
    switch (spec.site) {
      case BlockSite::LoopInput: loop_input_[b]->add_params(layout); break;
      case BlockSite::MlpInput: mlp_input_[b]->add_params(layout); break;
      case BlockSite::BlockOutput: block_output_[b]->add_params(layout); break;
      case BlockSite::AttnOutput:
        for (const auto& use : attn_output_[b])
          if (use->spec.type == spec.type) use->add_params(layout);
        break;
      case BlockSite::LoopOutput: break;
    }
  }
}

void DartBlocks::add_model_params(ParamLayout& layout) {
  if (loop_output_) loop_output_->add_params(layout);
}

void DartBlocks::bind(const ParamLayout& layout) {
  // The modules learn their tensors by adding them once; a throwaway layout serves that.
  ParamLayout scratch;
  for (int64_t b = 0; b < shape_.num_unique_blocks && any(); ++b) add_block_params(b, scratch);
  add_model_params(scratch);
  auto bind_all = [&](const std::vector<std::unique_ptr<Use>>& uses) {
    for (const auto& use : uses) use->bind(layout);
  };
  bind_all(loop_input_);
  bind_all(mlp_input_);
  bind_all(block_output_);
  for (const auto& chain : attn_output_) bind_all(chain);
  if (loop_output_) loop_output_->bind(layout);
}

void DartBlocks::plan(Arena& arena, int64_t max_rows) {
  const int64_t L = shape_.num_loops, d = shape_.model_dim;
  auto plan_use = [&](Use& use, int64_t uses) {
    use.inputs.assign(static_cast<size_t>(uses), Tensor());
    for (int64_t i = 0; i < uses; ++i) {
      if (use.tau) use.tau_acts.push_back(use.tau->reserve_activations(arena, max_rows));
      if (use.daam) use.daam_acts.push_back(use.daam->reserve_activations(arena, max_rows));
      if (use.gate) use.gate_acts.push_back(use.gate->reserve_activations(arena, max_rows));
      // DAAM and the head gate write a new tensor; τ at loop_input writes the model's x_mix.
      if (!use.tau || use.spec.site == BlockSite::LoopOutput) use.outputs.push_back(arena.reserve(DType::F32, {max_rows, d}));
    }
    if (use.tau) use.tau_scratch = use.tau->reserve_scratch(arena, max_rows);
    if (use.gate) use.gate_scratch = use.gate->reserve_scratch(arena, max_rows);
    if (use.daam) use.density = arena.reserve(DType::F32, {max_rows, use.daam->config().groups});
  };
  for (auto& use : loop_input_) plan_use(*use, L);
  for (auto& use : mlp_input_) plan_use(*use, L);
  for (auto& use : block_output_) plan_use(*use, L);
  for (auto& chain : attn_output_)
    for (auto& use : chain) plan_use(*use, L);
  if (loop_output_) plan_use(*loop_output_, 1);
  if (!any()) return;
  dbuf_a_ = arena.reserve(DType::F32, {max_rows, d});
  dbuf_b_ = arena.reserve(DType::F32, {max_rows, d});
  if (has_loop_input()) {
    zeros_ = arena.reserve(DType::F32, {max_rows, d});
    sink_ = arena.reserve(DType::F32, {max_rows, d});
  }
}

DartBlocks::Use* DartBlocks::at(const std::vector<std::unique_ptr<Use>>& uses, int64_t pass) const {
  return uses[static_cast<size_t>(pass % shape_.num_unique_blocks)].get();
}

// ---- loop_input ----------------------------------------------------------------------------------

void DartBlocks::loop_input_forward(const BlockContext& c, int64_t pass, const Tensor& x, const Tensor& x0,
                                    const Tensor& skip, const Tensor& out) {
  const Use& use = *at(loop_input_, pass);
  const int64_t l = pass / shape_.num_unique_blocks;
  std::array<Tensor, 3> streams{x, x0, skip};
  if (loop_input_skip_stream() && skip.data == nullptr) {
    // Nothing writes the zero stream: filled once, on the first forward that needs it.
    if (!zeros_filled_) c.backend.fill(c.arena.get(zeros_), 0.0f);
    zeros_filled_ = true;
    streams[2] = zero_stream(c);
  }
  const size_t n = static_cast<size_t>(use.tau->config().streams);
  use.tau->forward(c.backend, c.arena, use.tau_acts[static_cast<size_t>(l)], use.tau_scratch, c.params,
                   std::span<const Tensor>(streams.data(), n), out);
}

void DartBlocks::loop_input_backward(const BlockContext& c, int64_t pass, const Tensor& x, const Tensor& x0,
                                     const Tensor& skip, const Tensor& dx, const Tensor& dx0, const Tensor& dskip,
                                     const Tensor& dout) {
  const Use& use = *at(loop_input_, pass);
  const int64_t l = pass / shape_.num_unique_blocks;
  std::array<Tensor, 3> streams{x, x0, skip};
  std::array<Tensor, 3> dstreams{dx, dx0, dskip};
  if (loop_input_skip_stream() && skip.data == nullptr) {
    // The zero stream's gradient goes nowhere; the block still needs somewhere to add it.
    streams[2] = zero_stream(c);
    dstreams[2] = c.arena.get(sink_).slice(0, c.rows).view({c.rows, shape_.model_dim});
  }
  const size_t n = static_cast<size_t>(use.tau->config().streams);
  use.tau->backward(c.backend, c.arena, use.tau_acts[static_cast<size_t>(l)], use.tau_scratch, c.params, c.grads,
                    std::span<const Tensor>(streams.data(), n), std::span<const Tensor>(dstreams.data(), n), dout);
}

Tensor DartBlocks::zero_stream(const BlockContext& c) const {
  return c.arena.get(zeros_).slice(0, c.rows).view({c.rows, shape_.model_dim});
}

// ---- attn_output ---------------------------------------------------------------------------------

Tensor DartBlocks::attn_output_forward(const BlockContext& c, int64_t pass, const Tensor& attn_norm,
                                       const Tensor& comb) {
  const int64_t l = pass / shape_.num_unique_blocks, d = shape_.model_dim;
  Tensor current = comb;
  for (const auto& use : attn_output_[static_cast<size_t>(pass % shape_.num_unique_blocks)]) {
    const Tensor out = use->output(c.arena, l, c.rows, d);
    use->inputs[static_cast<size_t>(l)] = current;
    if (use->gate)
      use->gate->forward(c.backend, c.arena, use->gate_acts[static_cast<size_t>(l)], use->gate_scratch, c.params,
                         attn_norm, current, out);
    else
      use->daam->forward(c.backend, c.arena, use->daam_acts[static_cast<size_t>(l)], c.params, current, out);
    current = out;
  }
  return current;
}

void DartBlocks::attn_output_backward(const BlockContext& c, int64_t pass, const Tensor& attn_norm,
                                      const Tensor& comb, const Tensor& dfinal, const Tensor& dcomb,
                                      const Tensor& dnorm) {
  const int64_t l = pass / shape_.num_unique_blocks, d = shape_.model_dim;
  const auto& chain = attn_output_[static_cast<size_t>(pass % shape_.num_unique_blocks)];
  // Walk the chain backwards, alternating two scratch buffers; the first block's input gradient
  // lands in dcomb.
  Tensor dout = dfinal;
  for (size_t i = chain.size(); i-- > 0;) {
    const Use& use = *chain[i];
    const Tensor input = i == 0 ? comb : chain[i - 1]->output(c.arena, l, c.rows, d);
    Tensor din = dcomb;
    if (i > 0) {
      din = c.arena.get(dout.data == c.arena.get(dbuf_a_).data ? dbuf_b_ : dbuf_a_).slice(0, c.rows).view({c.rows, d});
    }
    c.backend.fill(din, 0.0f);
    if (use.gate)
      use.gate->backward(c.backend, c.arena, use.gate_acts[static_cast<size_t>(l)], use.gate_scratch, c.params, c.grads,
                         attn_norm, input, dnorm, din, dout);
    else
      use.daam->backward(c.backend, c.arena, use.daam_acts[static_cast<size_t>(l)], c.params, c.grads, input, din, dout);
    dout = din;
  }
}

// ---- mlp_input and block_output ----------------------------------------------------------------

Tensor DartBlocks::mlp_input_forward(const BlockContext& c, int64_t pass, const Tensor& x) {
  return daam_forward(c, *at(mlp_input_, pass), pass, x);
}

void DartBlocks::mlp_input_backward(const BlockContext& c, int64_t pass, const Tensor& x, const Tensor& dx,
                                    const Tensor& dout) {
  daam_backward(c, *at(mlp_input_, pass), pass, x, dx, dout);
}

Tensor DartBlocks::block_output_forward(const BlockContext& c, int64_t pass, const Tensor& x) {
  return daam_forward(c, *at(block_output_, pass), pass, x);
}

void DartBlocks::block_output_backward(const BlockContext& c, int64_t pass, const Tensor& x, const Tensor& dx,
                                       const Tensor& dout) {
  daam_backward(c, *at(block_output_, pass), pass, x, dx, dout);
}

Tensor DartBlocks::attn_output_value(const Arena& arena, int64_t pass, int64_t rows) const {
  const auto& chain = attn_output_[static_cast<size_t>(pass % shape_.num_unique_blocks)];
  return chain.back()->output(arena, pass / shape_.num_unique_blocks, rows, shape_.model_dim);
}

Tensor DartBlocks::mlp_input_value(const Arena& arena, int64_t pass, int64_t rows) const {
  return at(mlp_input_, pass)->output(arena, pass / shape_.num_unique_blocks, rows, shape_.model_dim);
}

Tensor DartBlocks::block_output_value(const Arena& arena, int64_t pass, int64_t rows) const {
  return at(block_output_, pass)->output(arena, pass / shape_.num_unique_blocks, rows, shape_.model_dim);
}

Tensor DartBlocks::loop_output_value(const Arena& arena, int64_t rows) const {
  return loop_output_->output(arena, 0, rows, shape_.model_dim);
}

Tensor DartBlocks::daam_forward(const BlockContext& c, const Use& use, int64_t pass, const Tensor& x) const {
  const int64_t l = pass / shape_.num_unique_blocks;
  const Tensor out = use.output(c.arena, l, c.rows, shape_.model_dim);
  use.inputs[static_cast<size_t>(l)] = x;
  use.daam->forward(c.backend, c.arena, use.daam_acts[static_cast<size_t>(l)], c.params, x, out);
  return out;
}

void DartBlocks::daam_backward(const BlockContext& c, const Use& use, int64_t pass, const Tensor& x, const Tensor& dx,
                               const Tensor& dout) const {
  const int64_t l = pass / shape_.num_unique_blocks;
  c.backend.fill(dx, 0.0f);
  use.daam->backward(c.backend, c.arena, use.daam_acts[static_cast<size_t>(l)], c.params, c.grads, x, dx, dout);
}

// ---- loop_output ---------------------------------------------------------------------------------

Tensor DartBlocks::loop_output_forward(const BlockContext& c, std::span<const Tensor> loop_outputs) {
  const Use& use = *loop_output_;
  const Tensor out = use.output(c.arena, 0, c.rows, shape_.model_dim);
  use.tau->forward(c.backend, c.arena, use.tau_acts[0], use.tau_scratch, c.params, loop_outputs, out);
  return out;
}

void DartBlocks::loop_output_backward(const BlockContext& c, std::span<const Tensor> loop_outputs,
                                      std::span<const Tensor> dloop_outputs, const Tensor& dout) {
  const Use& use = *loop_output_;
  use.tau->backward(c.backend, c.arena, use.tau_acts[0], use.tau_scratch, c.params, c.grads, loop_outputs,
                    dloop_outputs, dout);
}

// ---- observations --------------------------------------------------------------------------------

void DartBlocks::observe(const BlockContext& c, int64_t loops, int64_t sequences, std::string_view type,
                         std::vector<BlockObservation>& out) const {
  out.clear();
  auto take = [&](const Use& use, int64_t loop) {
    if (type.empty() || type == blocks::block_type_name(use.spec.type)) observe_use(c, use, loop, sequences, out);
  };
  const int64_t B = shape_.num_unique_blocks;
  for (int64_t l = 0; l < loops; ++l) {
    for (int64_t b = 0; b < B; ++b) {
      const size_t bi = static_cast<size_t>(b);
      if (has_loop_input()) take(*loop_input_[bi], l);
      if (has_attn_output())
        for (const auto& use : attn_output_[bi]) take(*use, l);
      if (has_mlp_input()) take(*mlp_input_[bi], l);
      if (has_block_output()) take(*block_output_[bi], l);
    }
  }
  if (loop_output_ && (type.empty() || type == blocks::block_type_name(loop_output_->spec.type))) {
    observe_use(c, *loop_output_, 0, sequences, out);
    out.back().loop = loops - 1;
  }
}

void DartBlocks::observe_use(const BlockContext& c, const Use& use, int64_t loop, int64_t sequences,
                             std::vector<BlockObservation>& out) const {
  const int64_t rows = c.rows, M = shape_.num_memory_tokens, S = rows / sequences, T = S - M;
  BlockObservation o;
  o.type = blocks::block_type_name(use.spec.type);
  o.site = blocks::block_site_name(use.spec.site);
  o.name = use.name;
  o.block = use.block;
  o.loop = loop;
  o.tokens = sequences * T;
  // The block's per-row values [channels, rows, width] on the host, then only the token rows.
  std::vector<float> all;
  int64_t channels = 0;
  const size_t li = static_cast<size_t>(loop);
  if (use.tau) {
    channels = use.tau->config().streams;
    o.width = use.tau->config().width();
    o.channels = tau_channels(use.spec, channels);
    all.resize(static_cast<size_t>(channels * rows * o.width));
    c.backend.copy_to_host(all.data(), use.tau->tau(c.arena, use.tau_acts[li], rows));
  } else {
    o.width = 1;
    std::vector<float> by_row;  // [rows, channels]
    if (use.daam) {
      channels = use.daam->config().groups;
      o.channels = numbered("group", channels);
      const Tensor density = c.arena.get(use.density).slice(0, rows);
      use.daam->density(c.backend, c.arena, use.daam_acts[li], c.params, use.inputs[li], density);
      by_row.resize(static_cast<size_t>(rows * channels));
      c.backend.copy_to_host(by_row.data(), density);
    } else {
      channels = use.gate->config().heads;
      o.channels = numbered("head", channels);
      by_row.resize(static_cast<size_t>(rows * channels));
      c.backend.copy_to_host(by_row.data(), use.gate->gate(c.arena, use.gate_acts[li], rows));
    }
    all.resize(by_row.size());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t ch = 0; ch < channels; ++ch)
        all[static_cast<size_t>(ch * rows + r)] = by_row[static_cast<size_t>(r * channels + ch)];
  }
  o.values.reserve(static_cast<size_t>(channels * o.tokens * o.width));
  for (int64_t ch = 0; ch < channels; ++ch)
    for (int64_t seq = 0; seq < sequences; ++seq) {
      const auto first = all.begin() + static_cast<std::ptrdiff_t>(((ch * rows) + seq * S + M) * o.width);
      o.values.insert(o.values.end(), first, first + static_cast<std::ptrdiff_t>(T * o.width));
    }
  out.push_back(std::move(o));
}

}  // namespace dg
