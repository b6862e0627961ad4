// dartgolf: a C++20/CUDA trainer for OpenAI's Parameter Golf challenge.
#include "backend/backend_factory.h"
#include "cli/cli_main.h"
#ifdef DARTGOLF_LINKS_CUDA
#include "cuda_backend.h"
#endif
#ifdef DARTGOLF_WITH_NCCL
#include "nccl_communicator.h"
#endif

int main(int argc, char** argv) {
  using namespace dg::cli;
#ifdef DARTGOLF_LINKS_CUDA
  // This program links a CUDA implementation (nvcc's, or the emulator's): offer it to --device.
  dg::provide_cuda_backend(dg::cuda::backend_provider());
#endif
#ifdef DARTGOLF_WITH_NCCL
  dg::cuda::register_nccl_communicator();  // data-parallel training on GPUs (dist/make_communicator.h)
#endif
  return cli_main(argc, argv, "dartgolf", "dartgolf: a C++20/CUDA trainer for OpenAI's Parameter Golf challenge",
                  {add_prepare_command, add_train_command, add_eval_command, add_pack_command, add_inspect_command,
                   add_bench_command, add_plot_command});
}
