#include <cstdio>

#include "cli/commands.h"

namespace dg::cli {

int not_available(const char* command, const char* what) {
  std::fprintf(stderr, "dartgolf %s: not available yet: %s\n", command, what);
  return kExitUsage;
}

}  // namespace dg::cli
