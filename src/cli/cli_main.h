// What both dartgolf programs do with their command line: register their subcommands, parse, run
// the chosen one, and turn errors into a message and an exit code.
#pragma once

#include <vector>

#include "cli/commands.h"

namespace dg::cli {

using CommandAdder = void (*)(CLI::App&, Runner&);

int cli_main(int argc, char** argv, const char* program, const char* description,
             const std::vector<CommandAdder>& commands);

}  // namespace dg::cli
