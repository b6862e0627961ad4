// --device, the same on every command that runs a model.
#include "cli/commands.h"

namespace dg::cli {

void add_device_option(CLI::App* cmd, std::string& device) {
  cmd->add_option("--device", device,
                  "auto (a GPU when one is usable, the one LOCAL_RANK names), cpu, or cuda (error when none is usable)")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
}

}  // namespace dg::cli
