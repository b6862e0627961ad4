// What a train or eval run reads before touching the model: world size and rank (torchrun's
// variables), thread count, the tokenizer with its byte tables, and the validation tokens.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/config.h"
#include "core/log.h"
#include "data/byte_luts.h"
#include "data/tokenizer.h"
#include "dist/world_info.h"

namespace dg {

// Applies the "threads" setting to OpenMP; returns the thread count in use. threads=0 means all
// cores, shared out among the `local_ranks` processes of a data-parallel job on this machine.
int apply_thread_setting(const Config& config, int local_ranks = 1);

// The backend the run's "device" and "precision" settings ask for (LOCAL_RANK picks the GPU), with
// the log line "device:<description>" (and why device=auto chose the CPU) when `log` is given.
std::unique_ptr<Backend> backend_for_run(const Config& config, const WorldInfo& world, Logger* log);

// For commands that read a stored config (eval, pack, inspect): the device and precision the run
// trained with never follow its checkpoint; they are this command's own (--device, default auto).
void use_command_device(Config& config, const std::string& device_flag);

struct EvalData {
  std::unique_ptr<data::Tokenizer> tokenizer;
  data::ByteLuts luts;
  std::vector<uint16_t> val_tokens;  // the scored targets + 1
  std::string val_pattern;
  int64_t split_targets = 0;  // targets in the whole split (whole sequences), scored or not

  int64_t scored_targets() const { return static_cast<int64_t>(val_tokens.size()) - 1; }
  // True when val_max_tokens cut the split: such a score is not the challenge's.
  bool partial() const { return scored_targets() < split_targets; }
};

// Loads the tokenizer (checking its vocab against vocab_size, as train_gpt.py does, and against the
// tokenizer the shards were prepared with when data_path has a prepare.json), its byte tables and
// the validation split of data_path cut to whole seq_len sequences (the first val_max_tokens
// targets, rounded down to whole sequences, when that is set).
EvalData load_eval_data(const Config& config, const std::filesystem::path& data_path,
                        const std::filesystem::path& tokenizer_path);

// A final score line: "<name>_exact val_loss:%.8f val_bpb:%.8f" (train_gpt.py's form) when the whole
// split was scored; otherwise "<name>_partial val_loss:... val_bpb:... val_targets:N/M", so a score
// over val_max_tokens is never read as the challenge's.
std::string exact_score_line(const std::string& name, double val_loss, double val_bpb, const EvalData& data);
// "" for the whole split, else " val_targets:N/M (partial: val_max_tokens)" for the other score lines.
std::string partial_note(const EvalData& data);

}  // namespace dg
