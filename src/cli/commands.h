// Each dartgolf subcommand lives in its own cli/cmd_<name>.cpp and registers itself here.
// A command's callback throws dg::Error for user-facing failures (main prints it and exits 1) and
// returns the process exit code otherwise.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace dg::cli {

// Exit codes: 0 success, 1 error (bad input, failed run), 2 usage error or feature not available yet,
// 3 training stopped by SIGINT/SIGTERM after writing a resumable checkpoint (train --resume continues).
constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitStopped = 3;

// Set by a subcommand's callback; main returns it.
using Runner = std::function<int()>;

void add_prepare_command(CLI::App& app, Runner& run);
void add_train_command(CLI::App& app, Runner& run);
void add_eval_command(CLI::App& app, Runner& run);
void add_pack_command(CLI::App& app, Runner& run);
void add_inspect_command(CLI::App& app, Runner& run);
void add_bench_command(CLI::App& app, Runner& run);
void add_plot_command(CLI::App& app, Runner& run);

// --device auto|cpu|cuda, the same on every command that runs a model.
void add_device_option(CLI::App* cmd, std::string& device);

}  // namespace dg::cli
