// Validation exactly as train_gpt.py's eval_val: the validation tokens cut into whole sequences,
// every target scored once, val_loss = mean nats per target token and
// val_bpb = (val_loss / ln 2) · (target tokens / target bytes) with the tokenizer's byte rule.
// Optionally a sliding window: windows of seq_len advance by `stride`, and each scores only the
// targets no earlier window scored, so every target gets up to seq_len − stride tokens of context.
#pragma once

#include <cstdint>
#include <ostream>
#include <vector>

#include "core/config.h"
#include "data/byte_luts.h"
#include "dist/communicator.h"
#include "model/language_model.h"

namespace dg {

struct EvalOptions {
  int64_t stride = 0;           // 0: non-overlapping sequences (the challenge's way)
  // Data-parallel: this rank scores its contiguous share of the windows and the ranks' sums are
  // added up, so every rank returns the whole split's score. Null: this process scores them all.
  dist::Communicator* comm = nullptr;
  std::ostream* per_token_out = nullptr;  // "position\ttoken_id\tloss_nats\tbytes" per target (this rank's)
};

struct EvalResult {
  double val_loss = 0.0, val_bpb = 0.0;
  int64_t tokens = 0, bytes = 0;
  double loss_sum = 0.0;  // over all ranks' targets
};

// val_tokens: whole sequences + 1 (load_validation_tokens). Batches use up to model.max_rows() rows.
// Rows per evaluation forward for a run's config: by default the run's training micro-batch
// (train_batch_tokens / grad_accum_steps tokens), so a re-score batches exactly as training
// validated (matmul sums depend on the batch shape in the last bits); `batch_tokens` > 0 overrides.
int64_t eval_batch_rows(const Config& config, int64_t batch_tokens = 0);

EvalResult evaluate(LanguageModel& model, const std::vector<uint16_t>& val_tokens, const data::ByteLuts& luts,
                    const EvalOptions& options);

}  // namespace dg
