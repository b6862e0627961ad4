// `dartgolf pack`: quantize a checkpoint into the artifact (int8+zlib by default, as the challenge),
// account for its size with the code, and optionally write a submission folder.
#include <cstdio>
#include <memory>

#include "artifact/codec.h"
#include "artifact/pack_checkpoint.h"
#include "cli/commands.h"
#include "core/error.h"

namespace dg::cli {

void add_pack_command(CLI::App& app, Runner& run) {
  struct Options {
    artifact::PackRequest request;
    std::string checkpoint, out, source_root, build_dir, submission, train_log, data_dir, tokenizer, preset;
    bool list_code_files = false, plan = false;
  };
  auto options = std::make_shared<Options>();
  artifact::PackRequest& r = options->request;
  CLI::App* cmd = app.add_subcommand("pack", "Quantize a checkpoint into the int8+zlib artifact and submission folder");
  cmd->add_option("--checkpoint", options->checkpoint, "Checkpoint (.safetensors) written by dartgolf train");
  cmd->add_option("--out", options->out, "Artifact file to write (e.g. final_model.int8.zlib)");
  std::string codecs;
  for (const auto& name : artifact::codec_names()) codecs += (codecs.empty() ? "" : "|") + name;
  cmd->add_option("--codec", r.codec, "Compressor (" + codecs + "|best; default: the run's artifact_codec, zlib)");
  cmd->add_option("--bits", r.bits, "Int width of quantized tensors, 2..8 (default: the run's artifact_bits, 8)");
  cmd->add_option("--set", r.assignments,
                  "Override a setting of the checkpoint's config, key=value (e.g. artifact_bitpack=true)");
  cmd->add_flag("--allow-oversize", r.allow_oversize, "Write the artifact even when artifact + code > 16,000,000 bytes");
  cmd->add_option("--source-root", options->source_root,
                  "Repository whose code is counted (default: the tree this binary was built from)");
  cmd->add_option("--build-dir", options->build_dir,
                  "Build folder holding dartgolf_submission's link map (default: the one this binary was built in)");
  cmd->add_flag("--list-code-files", options->list_code_files,
                "Print the counted code files (the submission program's closure) and the code archive's size, and exit");
  cmd->add_flag("--plan", options->plan,
                "Print bytes per tensor group at each width and codec, and the largest shapes that fit the cap at "
                "the chosen scheme (--codec, --bits, --set), for --checkpoint or --preset, and exit");
  cmd->add_option("--preset", options->preset, "With --plan and no --checkpoint: the preset to plan (default gpt)");
  cmd->add_option("--submission", options->submission,
                  "Also score the round trip and write a records folder: README.md, submission.json, train.log, "
                  "the artifact and the code archive");
  cmd->add_option("--author", r.author, "submission.json author (required with --submission)");
  cmd->add_option("--github-id", r.github_id, "submission.json github_id (required with --submission)");
  cmd->add_option("--name", r.name, "submission.json name (default: from the model's shape)");
  cmd->add_option("--blurb", r.blurb, "submission.json blurb (default: a summary of model, steps and scheme)");
  cmd->add_option("--train-log", options->train_log, "Train log to include (default: train_log.txt beside the checkpoint)");
  cmd->add_option("--hardware", r.hardware, "Hardware line for the README (default: what the checkpoint recorded)");
  cmd->add_option("--data", options->data_dir,
                  "Data folder: GPTQ calibrates on its fineweb_train_*.bin, --submission scores its fineweb_val_*.bin "
                  "(default: the run's)");
  cmd->add_option("--tokenizer", options->tokenizer, "With --submission: SentencePiece .model (default: the run's)");
  add_device_option(cmd, r.device);
  cmd->add_option("--eval-batch-tokens", r.eval_batch_tokens,
                  "With --submission: tokens per forward pass (default: the run's training micro-batch)");
  cmd->callback([&run, options]() {
    run = [options]() {
      if (options->list_code_files) {
        for (const std::string& line : artifact::code_file_listing(options->source_root, options->build_dir)) std::printf("%s\n", line.c_str());
        return kExitOk;
      }
      artifact::PackRequest request = options->request;
      request.checkpoint = options->checkpoint;
      if (options->plan) {
        request.source_root = options->source_root;
        request.build_dir = options->build_dir;
        for (const std::string& line : artifact::plan_listing(request, options->preset)) std::printf("%s\n", line.c_str());
        return kExitOk;
      }
      request.out = options->out;
      request.source_root = options->source_root;
      request.build_dir = options->build_dir;
      request.submission_dir = options->submission;
      request.train_log = options->train_log;
      request.data_dir = options->data_dir;
      request.tokenizer = options->tokenizer;
      artifact::run_pack(request, [](const std::string& line) {
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
      });
      return kExitOk;
    };
  });
}

}  // namespace dg::cli
