#include "train/run_context.h"

#include <omp.h>

#include <cstdlib>

#include "core/error.h"
#include "data/token_loader.h"

namespace dg {
namespace {
int env_int(const char* name, int fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  DG_CHECK(end != nullptr && *end == '\0', "environment variable " << name << "='" << text << "' is not an integer");
  return static_cast<int>(value);
}
}  // namespace

WorldInfo WorldInfo::from_environment() {
  WorldInfo w;
  w.rank = env_int("RANK", 0);
  w.world_size = env_int("WORLD_SIZE", 1);
  w.local_rank = env_int("LOCAL_RANK", 0);
  DG_CHECK(w.world_size > 0, "WORLD_SIZE must be positive, got " << w.world_size);
  DG_CHECK(w.rank >= 0 && w.rank < w.world_size, "RANK=" << w.rank << " is outside WORLD_SIZE=" << w.world_size);
  return w;
}

int apply_thread_setting(const Config& config) {
  const int64_t requested = config.get_int("threads");
  DG_CHECK(requested >= 0, "threads=" << requested << " must be >= 0 (0: all cores)");
  const int threads = requested > 0 ? static_cast<int>(requested) : omp_get_num_procs();
  // One OpenMP pool does all the work: the CPU backend keeps OpenBLAS single-threaded and splits
  // matmuls across these threads itself, so the two pools never fight over cores.
  omp_set_num_threads(threads);
  return threads;
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
  out.luts = data::build_byte_luts(*out.tokenizer, vocab);
  const int64_t seq_len = config.get_int("train_seq_len");
  out.val_pattern = (data_path / "fineweb_val_*.bin").string();
  out.val_tokens = data::load_validation_tokens(out.val_pattern, seq_len, vocab);
  const int64_t max_tokens = config.get_int("val_max_tokens");
  if (max_tokens > 0) {
    const int64_t keep = std::max<int64_t>(max_tokens / seq_len, 1) * seq_len + 1;
    if (keep < static_cast<int64_t>(out.val_tokens.size())) out.val_tokens.resize(static_cast<size_t>(keep));
  }
  return out;
}

}  // namespace dg
