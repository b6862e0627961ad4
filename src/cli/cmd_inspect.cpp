// `dartgolf inspect FILE`: parses flags and prints the report of data/inspect_data.
#include <iostream>
#include <memory>
#include <optional>
#include <string>

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
  std::optional<std::filesystem::path> tokenizer;
  if (flags.tokenizer_option->count() > 0) tokenizer = flags.tokenizer;
  std::cout << data::inspect_data_file(flags.file, tokenizer);
  return kExitOk;
}
}  // namespace

void add_inspect_command(CLI::App& app, Runner& run) {
  CLI::App* cmd = app.add_subcommand("inspect", "Show what a shard or tokenizer holds");
  auto flags = std::make_shared<InspectFlags>();
  cmd->add_option("FILE", flags->file, "A token shard (fineweb_*.bin) or a SentencePiece tokenizer (.model)")
      ->required();
  flags->tokenizer_option = cmd->add_option(
      "--tokenizer", flags->tokenizer, "For a shard: decode it and count its bytes by the challenge's val_bpb rule");
  cmd->callback([&run, flags]() { run = [flags] { return run_inspect(*flags); }; });
}

}  // namespace dg::cli
