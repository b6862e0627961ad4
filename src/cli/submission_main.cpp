// dartgolf_submission: the program a submission's code bytes count — it trains the model (ending
// with the artifact and its scored round trip) and evaluates an artifact, and nothing else. Its
// link map decides which sources are counted (src/artifact/code_closure.h).
#include "cli/cli_main.h"
#include "cli/linked_gpu_support.h"

int main(int argc, char** argv) {
  using namespace dg::cli;
  offer_linked_gpu_support();
  return cli_main(argc, argv, "dartgolf_submission",
                  "dartgolf_submission: train and evaluate a Parameter Golf model (dartgolf's submitted code)",
                  {add_train_command, add_eval_command});
}
