// `dartgolf inspect FILE`: parses flags and prints the report of data/inspect_data (or of a model
// file). `dartgolf inspect --blocks CHECKPOINT`: the pluggable blocks' statistics and heatmaps over
// the validation split (train/inspect_blocks.h).
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "artifact/inspect_model_files.h"
#include "cli/commands.h"
#include "data/inspect_data.h"
#include "train/inspect_blocks.h"

namespace dg::cli {

namespace {
struct InspectFlags {
  std::string file;
  std::string tokenizer;
  CLI::Option* tokenizer_option = nullptr;
  std::string blocks_checkpoint, data_dir, out_dir;
  int64_t max_tokens = 0;
  CLI::Option* blocks_option = nullptr;
};

int run_inspect_blocks(const InspectFlags& flags) {
  InspectBlocksRequest request;
  request.checkpoint = flags.blocks_checkpoint;
  request.data_dir = flags.data_dir;
  request.tokenizer = flags.tokenizer;
  request.out_dir = flags.out_dir;
  request.max_tokens = flags.max_tokens;
  std::cout << inspect_blocks_report(inspect_blocks(request));
  return kExitOk;
}

int run_inspect(const InspectFlags& flags) {
  if (flags.blocks_option->count() > 0) return run_inspect_blocks(flags);
  switch (artifact::detect_model_file(flags.file)) {
    case artifact::ModelFileKind::artifact: std::cout << artifact::inspect_artifact(flags.file); return kExitOk;
    case artifact::ModelFileKind::checkpoint: std::cout << artifact::inspect_checkpoint(flags.file); return kExitOk;
    case artifact::ModelFileKind::other: break;
  }
  std::optional<std::filesystem::path> tokenizer;
  if (flags.tokenizer_option->count() > 0) tokenizer = flags.tokenizer;
  std::cout << data::inspect_data_file(flags.file, tokenizer);
  return kExitOk;
}
}  // namespace

void add_inspect_command(CLI::App& app, Runner& run) {
  CLI::App* cmd = app.add_subcommand("inspect", "Show what a shard, tokenizer, checkpoint or artifact holds, or a DART "
                                                "checkpoint's pluggable blocks (--blocks)");
  auto flags = std::make_shared<InspectFlags>();
  CLI::Option* file = cmd->add_option(
      "FILE", flags->file, "A token shard (fineweb_*.bin), a SentencePiece tokenizer (.model), a checkpoint (.safetensors) or an artifact");
  flags->tokenizer_option = cmd->add_option(
      "--tokenizer", flags->tokenizer,
      "For a shard: decode it and count its bytes by the challenge's val_bpb rule. With --blocks: the SentencePiece "
      ".model (default: the run's tokenizer_path)");
  flags->blocks_option = cmd->add_option(
      "--blocks", flags->blocks_checkpoint,
      "A DART checkpoint with pluggable blocks: run it over the validation split and write blocks.json (per-use "
      "statistics, DAAM importance factors, mean tau and gates) and heatmap PNGs");
  flags->blocks_option->excludes(file);
  cmd->add_option("--data", flags->data_dir, "With --blocks: folder with fineweb_val_*.bin (default: the run's data_path)")
      ->needs(flags->blocks_option);
  cmd->add_option("--out", flags->out_dir, "With --blocks: output folder (default: <checkpoint folder>/blocks)")
      ->needs(flags->blocks_option);
  cmd->add_option("--max-tokens", flags->max_tokens,
                  "With --blocks: only the first N validation tokens, in whole sequences (default: the whole split)")
      ->needs(flags->blocks_option);
  cmd->callback([&run, flags, file]() {
    // Neither a FILE nor --blocks is a usage error like any missing argument (exit 2).
    if (file->count() == 0 && flags->blocks_option->count() == 0) throw CLI::RequiredError("FILE or --blocks CHECKPOINT");
    run = [flags] { return run_inspect(*flags); };
  });
}

}  // namespace dg::cli
