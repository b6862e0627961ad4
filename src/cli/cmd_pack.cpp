#include "cli/commands.h"

namespace dg::cli {

void add_pack_command(CLI::App& app, Runner& run) {
  CLI::App* cmd = app.add_subcommand("pack", "Quantize a checkpoint into the int8+zlib artifact and submission folder");
  cmd->allow_extras();
  cmd->callback([&run]() { run = [] { return not_available("pack", "this command has not landed in this build"); }; });
}

}  // namespace dg::cli
