// dartgolf_submission: the program a submission's code bytes count — it trains the model (ending
// with the artifact and its scored round trip) and evaluates an artifact, and nothing else. Its
// link map decides which sources are counted (src/artifact/code_closure.h).
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
  dg::provide_cuda_backend(dg::cuda::backend_provider());
#endif
#ifdef DARTGOLF_WITH_NCCL
  dg::cuda::register_nccl_communicator();  // data-parallel training on GPUs (dist/make_communicator.h)
#endif
  return cli_main(argc, argv, "dartgolf_submission",
                  "dartgolf_submission: train and evaluate a Parameter Golf model (dartgolf's submitted code)",
                  {add_train_command, add_eval_command});
}
