#include "train/evaluate.h"

#include <algorithm>

#include "core/error.h"

namespace dg {

int64_t eval_batch_rows(const Config& config, int64_t batch_tokens) {
  DG_CHECK(batch_tokens >= 0, "--eval-batch-tokens " << batch_tokens << " must be >= 0 (0: the run's training micro-batch)");
  const int64_t accum = config.get_int("grad_accum_steps") > 0 ? config.get_int("grad_accum_steps") : 8;
  const int64_t tokens = batch_tokens > 0 ? batch_tokens : config.get_int("train_batch_tokens") / accum;
  return std::max<int64_t>(1, tokens / config.get_int("train_seq_len"));
}

namespace {

// A window of seq_len inputs starting at token `start`, scoring targets at window offsets >= first_scored.
struct Window {
  int64_t start;
  int64_t first_scored;
};

std::vector<Window> plan_windows(int64_t num_tokens, int64_t seq_len, int64_t stride) {
  std::vector<Window> windows;
  const int64_t targets = num_tokens - 1;
  if (stride <= 0 || stride >= seq_len) {
    for (int64_t s = 0; s + seq_len <= targets; s += seq_len) windows.push_back({s, 0});
    return windows;
  }
  // First window scores all its targets; each later one scores only its last `stride` targets,
  // and the final window is aligned to the end so the last targets are scored too.
  windows.push_back({0, 0});
  int64_t scored_until = seq_len;  // targets [0, scored_until) done (target i predicts token i+1)
  while (scored_until < targets) {
    const int64_t end = std::min(scored_until + stride, targets);
    const int64_t start = end - seq_len;
    windows.push_back({start, scored_until - start});
    scored_until = end;
  }
  return windows;
}

}  // namespace

EvalResult evaluate(LanguageModel& model, const std::vector<uint16_t>& val_tokens, const data::ByteLuts& luts,
                    const EvalOptions& options) {
  const int64_t T = model.seq_len();
  DG_CHECK(static_cast<int64_t>(val_tokens.size()) >= T + 1,
           "validation split has " << val_tokens.size() << " tokens, fewer than one sequence of " << T);
  const std::vector<Window> windows = plan_windows(static_cast<int64_t>(val_tokens.size()), T, options.stride);
  const int64_t total = static_cast<int64_t>(windows.size());
  const int64_t rank = options.comm != nullptr ? options.comm->rank() : 0;
  const int64_t ranks = options.comm != nullptr ? options.comm->world_size() : 1;
  const int64_t begin = total * rank / ranks;
  const int64_t end = total * (rank + 1) / ranks;

  const bool was_training = model.training();
  model.set_training(false);
  const int64_t batch_rows = model.max_rows();
  std::vector<int32_t> inputs(static_cast<size_t>(batch_rows * T)), targets(inputs.size());
  std::vector<float> losses;
  EvalResult result;
  for (int64_t w0 = begin; w0 < end; w0 += batch_rows) {
    const int64_t rows = std::min(batch_rows, end - w0);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t start = windows[static_cast<size_t>(w0 + r)].start;
      for (int64_t t = 0; t < T; ++t) {
        inputs[static_cast<size_t>(r * T + t)] = val_tokens[static_cast<size_t>(start + t)];
        targets[static_cast<size_t>(r * T + t)] = val_tokens[static_cast<size_t>(start + t + 1)];
      }
    }
    model.forward(ModelBatch{inputs.data(), targets.data(), rows, T});
    model.token_losses(losses);
    for (int64_t r = 0; r < rows; ++r) {
      const Window& w = windows[static_cast<size_t>(w0 + r)];
      for (int64_t t = w.first_scored; t < T; ++t) {
        const size_t i = static_cast<size_t>(r * T + t);
        const int bytes = data::target_bytes(luts, inputs[i], targets[i]);
        result.loss_sum += losses[i];
        result.tokens += 1;
        result.bytes += bytes;
        if (options.per_token_out != nullptr) {
          *options.per_token_out << (w.start + t + 1) << '\t' << targets[i] << '\t' << losses[i] << '\t' << bytes
                                 << '\n';
        }
      }
    }
  }
  model.set_training(was_training);
  if (ranks > 1) {
    // Counts below 2^53 are exact in a double, so tokens and bytes add up exactly; only the loss
    // sum's rounding depends on how the windows were split.
    double totals[3] = {result.loss_sum, static_cast<double>(result.tokens), static_cast<double>(result.bytes)};
    options.comm->all_reduce_host(totals, 3, dist::ReduceOp::Sum);
    result.loss_sum = totals[0];
    result.tokens = static_cast<int64_t>(totals[1]);
    result.bytes = static_cast<int64_t>(totals[2]);
  }
  data::BpbAccumulator acc;
  acc.add(result.loss_sum, result.tokens, result.bytes);
  result.val_loss = acc.val_loss();
  result.val_bpb = acc.val_bpb();
  return result;
}

}  // namespace dg
