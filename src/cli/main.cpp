// dartgolf: a C++20/CUDA trainer for OpenAI's Parameter Golf challenge.
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"dartgolf: a C++20/CUDA trainer for OpenAI's Parameter Golf challenge", "dartgolf"};
  app.set_version_flag("--version", std::string("dartgolf ") + DARTGOLF_VERSION);
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("--verbose", verbose, "On errors, also print where in dartgolf's source they were raised");

  dg::cli::Runner run;
  dg::cli::add_prepare_command(app, run);
  dg::cli::add_train_command(app, run);
  dg::cli::add_eval_command(app, run);
  dg::cli::add_pack_command(app, run);
  dg::cli::add_inspect_command(app, run);
  dg::cli::add_bench_command(app, run);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return dg::cli::kExitUsage;
  }
  try {
    return run ? run() : dg::cli::kExitUsage;
  } catch (const dg::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", e.what());
    if (verbose) std::fprintf(stderr, "  (raised at %s:%d)\n", e.source_file(), e.source_line());
    return dg::cli::kExitError;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", e.what());
    return dg::cli::kExitError;
  }
}
