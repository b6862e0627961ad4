#include "train/run_context.h"

#include <omp.h>

#include <algorithm>

#include "backend/backend_factory.h"
#include "core/error.h"
#include "core/log.h"
#include "data/prepare_manifest.h"
#include "data/token_loader.h"

namespace dg {

int apply_thread_setting(const Config& config, int local_ranks) {
  const int64_t requested = config.get_int("threads");
  DG_CHECK(requested >= 0, "threads=" << requested << " must be >= 0 (0: all cores)");
  // Ranks on one machine share its cores: each taking them all would oversubscribe them N times.
  const int threads = requested > 0 ? static_cast<int>(requested) : std::max(1, omp_get_num_procs() / std::max(1, local_ranks));
  // One OpenMP pool does all the work: the CPU backend keeps OpenBLAS single-threaded and splits
  // matmuls across these threads itself, so the two pools never fight over cores.
  omp_set_num_threads(threads);
  return threads;
}

std::unique_ptr<Backend> backend_for_run(const Config& config, const WorldInfo& world, Logger* log) {
  std::string note;
  std::unique_ptr<Backend> backend = make_backend(backend_request(config, world.local_rank), &note);
  if (log) {
    log->log("device:" + backend->description());
    if (!note.empty()) log->log(note);
  }
  return backend;
}

void use_command_device(Config& config, const std::string& device_flag) {
  config.set_value("device", device_flag.empty() ? "auto" : device_flag, device_flag.empty() ? "default" : "--device");
  config.set_value("precision", "auto", "default");
}

EvalData load_eval_data(const Config& config, const std::filesystem::path& data_path,
                        const std::filesystem::path& tokenizer_path) {
  EvalData out;
  DG_CHECK(std::filesystem::is_directory(data_path),
           "data folder " << data_path.string()
                          << " does not exist: run scripts/setup.sh to prepare data, or set DATA_PATH (--set data_path=DIR) "
                             "to a folder of fineweb_{train,val}_*.bin shards");
  DG_CHECK(tokenizer_path.extension() == ".model",
           "tokenizer " << tokenizer_path << ": expected a SentencePiece .model file (TOKENIZER_PATH)");
  out.tokenizer = std::make_unique<data::Tokenizer>(data::Tokenizer::load(tokenizer_path));
  const int64_t vocab = config.get_int("vocab_size");
  DG_CHECK(out.tokenizer->vocab_size() == vocab, "VOCAB_SIZE=" << vocab << " does not match tokenizer vocab_size="
                                                                << out.tokenizer->vocab_size() << " of "
                                                                << tokenizer_path.string());
  data::check_prepared_tokenizer(data_path, tokenizer_path);
  out.luts = data::build_byte_luts(*out.tokenizer, vocab);
  const int64_t seq_len = config.get_int("train_seq_len");
  out.val_pattern = (data_path / "fineweb_val_*.bin").string();
  out.val_tokens = data::load_validation_tokens(out.val_pattern, seq_len, vocab);
  out.split_targets = out.scored_targets();
  const int64_t max_tokens = config.get_int("val_max_tokens");
  DG_CHECK(max_tokens == 0 || max_tokens >= seq_len,
           "val_max_tokens=" << max_tokens << " is less than one validation sequence (train_seq_len=" << seq_len << ")");
  if (max_tokens > 0 && max_tokens < out.split_targets) {
    const int64_t keep = max_tokens / seq_len * seq_len + 1;
    out.val_tokens.resize(static_cast<size_t>(keep));
  }
  return out;
}

std::string exact_score_line(const std::string& name, double val_loss, double val_bpb, const EvalData& data) {
  std::string line = name + (data.partial() ? "_partial" : "_exact") + " val_loss:" + fixed(val_loss, 8) +
                     " val_bpb:" + fixed(val_bpb, 8);
  if (data.partial())
    line += " val_targets:" + std::to_string(data.scored_targets()) + "/" + std::to_string(data.split_targets);
  return line;
}

std::string partial_note(const EvalData& data) {
  if (!data.partial()) return "";
  return " val_targets:" + std::to_string(data.scored_targets()) + "/" + std::to_string(data.split_targets) +
         " (partial: val_max_tokens)";
}

}  // namespace dg
