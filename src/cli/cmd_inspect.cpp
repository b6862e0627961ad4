// `dartgolf inspect FILE`: parses flags and prints the report of data/inspect_data.
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "artifact/inspect_model_files.h"
#include "cli/commands.h"
#include "data/inspect_data.h"

namespace dg::cli {

namespace {
struct InspectFlags {
  std::string file;
  std::string tokenizer;
  CLI::Option* tokenizer_option = nullptr;
};

int run_inspect(const InspectFlags& flags) {
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
  CLI::App* cmd = app.add_subcommand("inspect", "Show what a shard, tokenizer, checkpoint or artifact holds");
  auto flags = std::make_shared<InspectFlags>();
  cmd->add_option("FILE", flags->file, "A token shard (fineweb_*.bin), a SentencePiece tokenizer (.model), a checkpoint (.safetensors) or an artifact")
      ->required();
  flags->tokenizer_option = cmd->add_option(
      "--tokenizer", flags->tokenizer, "For a shard: decode it and count its bytes by the challenge's val_bpb rule");
  cmd->callback([&run, flags]() { run = [flags] { return run_inspect(*flags); }; });
}

}  // namespace dg::cli
