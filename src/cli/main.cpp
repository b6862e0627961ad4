// dartgolf: a C++20/CUDA trainer for OpenAI's Parameter Golf challenge.
#include "cli/cli_main.h"
#include "cli/linked_gpu_support.h"

int main(int argc, char** argv) {
  using namespace dg::cli;
  offer_linked_gpu_support();
  return cli_main(argc, argv, "dartgolf", "dartgolf: a C++20/CUDA trainer for OpenAI's Parameter Golf challenge",
                  {add_prepare_command, add_train_command, add_eval_command, add_pack_command, add_inspect_command,
                   add_bench_command, add_plot_command});
}
