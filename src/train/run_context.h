// What a train or eval run reads before touching the model: world size and rank (torchrun's
// variables), thread count, the tokenizer with its byte tables, and the validation tokens.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "data/byte_luts.h"
#include "data/tokenizer.h"

namespace dg {

struct WorldInfo {
  int rank = 0, world_size = 1, local_rank = 0;
  static WorldInfo from_environment();
};

// Applies the "threads" setting to OpenMP; returns the thread count in use.
int apply_thread_setting(const Config& config);

struct EvalData {
  std::unique_ptr<data::Tokenizer> tokenizer;
  data::ByteLuts luts;
  std::vector<uint16_t> val_tokens;
  std::string val_pattern;
};

// Loads the tokenizer (checking its vocab against vocab_size, as train_gpt.py does), its byte
// tables and the validation split of data_path cut to whole seq_len sequences (at most
// val_max_tokens targets when that is set).
EvalData load_eval_data(const Config& config, const std::filesystem::path& data_path,
                        const std::filesystem::path& tokenizer_path);

}  // namespace dg
