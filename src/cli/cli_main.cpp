#include "cli/cli_main.h"

#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/text.h"

namespace dg::cli {

namespace {

void print_error(const std::string& message) {
  std::fflush(stdout);
  std::fprintf(stderr, "error: %s\n", printable(message).c_str());
}

// "dartgolf trian" would get CLI11's "A subcommand is required": name the typo and the nearest command.
bool is_unknown_command(const CLI::App& app, const char* program, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return false;
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands({})) names.push_back(sub->get_name());
  const std::string word = argv[1];
  for (const std::string& name : names)
    if (name == word) return false;
  std::string listing;
  for (const std::string& name : names) listing += (listing.empty() ? "" : ", ") + name;
  const std::string nearest = closest_match(word, names, 2);
  print_error("unknown command '" + word + "'" + (nearest.empty() ? "" : "; did you mean '" + nearest + "'?") +
              " Commands: " + listing + " (" + program + " --help)");
  return true;
}

}  // namespace

int cli_main(int argc, char** argv, const char* program, const char* description,
             const std::vector<CommandAdder>& commands) {
  CLI::App app{description, program};
  app.set_version_flag("--version", std::string(program) + " " + DARTGOLF_VERSION);
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("--verbose", verbose, "On errors, also print where in dartgolf's source they were raised");

  Runner run;
  for (CommandAdder add : commands) add(app, run);

  if (is_unknown_command(app, program, argc, argv)) return kExitUsage;
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  try {
    return run ? run() : kExitUsage;
  } catch (const Error& e) {
    print_error(e.what());
    if (verbose) std::fprintf(stderr, "  (raised at %s:%d)\n", e.source_file(), e.source_line());
    return kExitError;
  } catch (const std::filesystem::filesystem_error& e) {
    // The library's text ("filesystem error: cannot ...: ... [path]") reworded around the path.
    std::string where = e.path1().string();
    if (!e.path2().empty()) where += " -> " + e.path2().string();
    print_error(where + ": " + e.code().message());
    return kExitError;
  } catch (const std::exception& e) {
    print_error(e.what());
    return kExitError;
  }
}

}  // namespace dg::cli
