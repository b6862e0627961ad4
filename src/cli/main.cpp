// dartgolf: a C++20/CUDA trainer for OpenAI's Parameter Golf challenge.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "backend/backend_factory.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/text.h"
#ifdef DARTGOLF_LINKS_CUDA
#include "cuda_backend.h"
#endif

namespace {

void print_error(const std::string& message) {
  std::fflush(stdout);
  std::fprintf(stderr, "error: %s\n", dg::printable(message).c_str());
}

// "dartgolf trian" would get CLI11's "A subcommand is required": name the typo and the nearest command.
bool is_unknown_command(const CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return false;
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands({})) names.push_back(sub->get_name());
  const std::string word = argv[1];
  for (const std::string& name : names)
    if (name == word) return false;
  std::string listing;
  for (const std::string& name : names) listing += (listing.empty() ? "" : ", ") + name;
  const std::string nearest = dg::closest_match(word, names, 2);
  print_error("unknown command '" + word + "'" + (nearest.empty() ? "" : "; did you mean '" + nearest + "'?") +
              " Commands: " + listing + " (dartgolf --help)");
  return true;
}

}  // namespace

int main(int argc, char** argv) {
#ifdef DARTGOLF_LINKS_CUDA
  dg::provide_cuda_backend(dg::cuda::backend_provider());
#endif
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
  dg::cli::add_plot_command(app, run);

  if (is_unknown_command(app, argc, argv)) return dg::cli::kExitUsage;
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
    print_error(e.what());
    if (verbose) std::fprintf(stderr, "  (raised at %s:%d)\n", e.source_file(), e.source_line());
    return dg::cli::kExitError;
  } catch (const std::filesystem::filesystem_error& e) {
    // The library's text ("filesystem error: cannot ...: ... [path]") reworded around the path.
    std::string where = e.path1().string();
    if (!e.path2().empty()) where += " -> " + e.path2().string();
    print_error(where + ": " + e.code().message());
    return dg::cli::kExitError;
  } catch (const std::exception& e) {
    print_error(e.what());
    return dg::cli::kExitError;
  }
}
