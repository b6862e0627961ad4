// `dartgolf prepare`: parses flags and hands them to data/prepare (which holds all the logic).
#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "data/prepare.h"

namespace dg::cli {

namespace {
struct PrepareFlags {
  std::string input;
  std::string out;
  std::string tokenizer;
  int vocab_size = 0;
  double val_fraction = data::kDefaultValFraction;
  int64_t val_docs = 0;
  int64_t shard_tokens = data::kDefaultShardTokens;
  bool force = false;
  CLI::Option* tokenizer_option = nullptr;
  CLI::Option* vocab_option = nullptr;
  CLI::Option* fraction_option = nullptr;
  CLI::Option* docs_option = nullptr;
};

int run_prepare(const PrepareFlags& flags) {
  data::PrepareOptions options;
  options.input = flags.input;
  options.out = flags.out;
  if (flags.tokenizer_option->count() > 0) options.tokenizer = flags.tokenizer;
  if (flags.vocab_option->count() > 0) options.vocab_size = flags.vocab_size;
  if (flags.fraction_option->count() > 0) options.val_fraction = flags.val_fraction;
  if (flags.docs_option->count() > 0) options.val_docs = flags.val_docs;
  options.shard_tokens = flags.shard_tokens;
  options.force = flags.force;
  options.progress = &std::cerr;

  const data::PrepareSummary summary = data::prepare_dataset(options);
  std::cout << "documents: " << summary.documents << "\n"
            << "val: " << summary.val.documents << " documents, " << summary.val.tokens << " tokens, "
            << summary.val.shards.size() << " shard(s)\n"
            << "train: " << summary.train.documents << " documents, " << summary.train.tokens << " tokens, "
            << summary.train.shards.size() << " shard(s)\n"
            << "tokenizer: " << summary.tokenizer_path.string() << (summary.tokenizer_trained ? " (trained)" : "")
            << ", vocab " << summary.vocab_size << "\n"
            << "manifest: " << summary.manifest_path.string() << "\n";
  return kExitOk;
}
}  // namespace

void add_prepare_command(CLI::App& app, Runner& run) {
  CLI::App* cmd = app.add_subcommand("prepare", "Tokenize a .txt or .jsonl corpus into challenge shards");
  cmd->footer(
      "Every document is written as BOS (id 1) + its tokens; the first documents form the val split.\n"
      ".txt: documents are separated by blank lines. .jsonl: one {\"text\": ...} per line.\n"
      "Writes OUT/fineweb_val_NNNNNN.bin, OUT/fineweb_train_NNNNNN.bin and OUT/prepare.json.");
  auto flags = std::make_shared<PrepareFlags>();
  cmd->add_option("--input", flags->input, "Corpus: .txt (blank-line separated documents) or .jsonl ({\"text\": ...} per line)")
      ->required();
  cmd->add_option("--out", flags->out, "Output folder for the shards and prepare.json (created if missing)")->required();
  flags->tokenizer_option =
      cmd->add_option("--tokenizer", flags->tokenizer, "Existing SentencePiece model to encode with");
  flags->vocab_option = cmd->add_option(
      "--vocab-size", flags->vocab_size,
      "Train a BPE tokenizer of this size on the corpus (saved as OUT/tokenizer.model); with --tokenizer, "
      "the size that model must have");
  flags->fraction_option = cmd->add_option("--val-fraction", flags->val_fraction,
                                           "The first round(F x documents) documents form val (default 0.1)");
  flags->docs_option = cmd->add_option("--val-docs", flags->val_docs, "The first N documents form val");
  flags->fraction_option->excludes(flags->docs_option);
  cmd->add_option("--shard-tokens", flags->shard_tokens, "Tokens per shard; the last shard of a split is shorter")
      ->capture_default_str();
  cmd->add_flag("--force", flags->force, "Replace fineweb_*.bin shards already in OUT (all of them are removed first)");
  cmd->callback([&run, flags]() { run = [flags] { return run_prepare(*flags); }; });
}

}  // namespace dg::cli
