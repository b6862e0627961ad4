#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "artifact/model_artifact.h"
#include "artifact/roundtrip.h"

#include "backend/backend.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "model/model_factory.h"
#include "train/evaluate.h"
#include "train/model_io.h"
#include "train/run_context.h"
#include "train/settings_checks.h"

namespace dg::cli {

void add_eval_command(CLI::App& app, Runner& run) {
  struct Options {
    std::string checkpoint, artifact, data_dir, tokenizer, per_token_out;
    int64_t stride = 0;
    int64_t eval_batch_tokens = 0;
    std::vector<std::string> assignments;
    std::string eval_loss;
    std::string device;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("eval", "Score a checkpoint or artifact: val_loss and val_bpb over the validation split");
  auto* ckpt = cmd->add_option("--checkpoint", options->checkpoint, "Checkpoint (.safetensors) written by dartgolf train");
  auto* art = cmd->add_option("--artifact", options->artifact, "int8+zlib artifact written by dartgolf pack");
  ckpt->excludes(art);
  cmd->add_option("--data", options->data_dir, "Folder with fineweb_val_*.bin (default: the run's data_path)");
  cmd->add_option("--tokenizer", options->tokenizer, "SentencePiece .model (default: the run's tokenizer_path)");
  cmd->add_option("--per-token-out", options->per_token_out,
                  "Write position<TAB>token_id<TAB>loss_nats<TAB>bytes for every scored target");
  cmd->add_option("--stride", options->stride,
                  "Sliding-window eval: windows advance by N tokens and score only new targets (0: the challenge's "
                  "non-overlapping sequences)");
  cmd->add_option("--eval-batch-tokens", options->eval_batch_tokens,
                  "Tokens per forward pass (default: the run's training micro-batch, so scores match "
                  "training's validation bit for bit; smaller saves memory)")
      ->capture_default_str();
  cmd->add_option("--eval-loss", options->eval_loss,
                  "DART only: last_loop (the last loop's loss, default) or deep_supervision (PR 345's "
                  "loop-weighted score, for comparison)")
      ->check(CLI::IsMember({"last_loop", "deep_supervision"}));
  cmd->add_option("--set", options->assignments, "Override a setting, key=value (e.g. threads=2, val_max_tokens=65536)");
  add_device_option(cmd, options->device);
  cmd->callback([&run, options]() {
    run = [options]() {
      const bool from_artifact = !options->artifact.empty();
      DG_CHECK(from_artifact || !options->checkpoint.empty(), "eval: give --checkpoint FILE (or --artifact FILE)");
      const std::filesystem::path path = from_artifact ? options->artifact : options->checkpoint;
      // An artifact stores its run config and quantized weights, as a checkpoint its config and fp32 weights.
      std::optional<artifact::Artifact> packed;
      std::optional<LoadedCheckpoint> checkpoint;
      if (from_artifact) packed = artifact::read_artifact(path);
      else checkpoint = load_checkpoint(path);
      Config config = from_artifact ? artifact::artifact_config(*packed, path) : checkpoint_config(*checkpoint, path);
      // The training run's validation shortcut never follows its checkpoint: eval scores the whole
      // split unless this command line asks for less (--set val_max_tokens=N).
      config.set_value("val_max_tokens", 0, "eval scores the whole validation split");
      use_command_device(config, options->device);
      for (const std::string& a : options->assignments) config.set(a, "--set");
      check_run_settings(config);
      if (!options->eval_loss.empty()) {
        DG_CHECK(config.get_string("model") == "dart",
                 "--eval-loss applies to DART models; " << path.string() << " holds a " << config.get_string("model")
                                                        << " model");
        config.set_value("eval_loss", options->eval_loss, "--eval-loss");
      }
      apply_thread_setting(config);
      const std::filesystem::path data_path = options->data_dir.empty() ? config.get_string("data_path") : options->data_dir;
      const std::filesystem::path tokenizer_path =
          options->tokenizer.empty() ? config.get_string("tokenizer_path") : options->tokenizer;
      const EvalData data = load_eval_data(config, data_path, tokenizer_path);

      const int64_t seq_len = config.get_int("train_seq_len");
      DG_CHECK(options->stride >= 0 && options->stride <= seq_len,
               "--stride " << options->stride << " must be in 0.." << seq_len << " (train_seq_len)");
      const int64_t rows = eval_batch_rows(config, options->eval_batch_tokens);
      std::unique_ptr<Backend> backend = backend_for_run(config, WorldInfo::from_environment(), nullptr);
      std::printf("device:%s\n", backend->description().c_str());
      std::unique_ptr<LanguageModel> model = make_model(config, *backend, rows, seq_len);
      if (from_artifact) artifact::load_artifact_weights(*packed, path, *model, *backend);
      else load_model_weights(*checkpoint, path, *model, *backend);

      EvalOptions eval_options;
      eval_options.stride = options->stride;
      EvalResult result;
      const auto eval_start = std::chrono::steady_clock::now();
      if (options->per_token_out.empty()) {
        result = evaluate(*model, data.val_tokens, data.luts, eval_options);
      } else {
        write_file_atomic(options->per_token_out, [&](std::ostream& out) {
          eval_options.per_token_out = &out;
          result = evaluate(*model, data.val_tokens, data.luts, eval_options);
        });
      }
      const double eval_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - eval_start).count();
      const int64_t step = from_artifact ? packed->meta.value("step", int64_t{0}) : checkpoint->meta.step;
      std::printf("eval %s:%s step:%lld val_tokens:%lld val_bytes:%lld stride:%lld\n",
                  from_artifact ? "artifact" : "checkpoint", path.string().c_str(), static_cast<long long>(step),
                  static_cast<long long>(result.tokens), static_cast<long long>(result.bytes),
                  static_cast<long long>(options->stride));
      if (from_artifact) {  // the challenge's score lines, named by the artifact's scheme
        const std::string prefix = artifact::stored_settings(*packed).metric_prefix();
        std::printf("%s\n", artifact::roundtrip_line(prefix, {result, eval_ms}, data).c_str());
        std::printf("%s\n", artifact::roundtrip_exact_line(prefix, {result, eval_ms}, data).c_str());
        return kExitOk;
      }
      std::printf("val_loss:%s val_bpb:%s%s\n", fixed(result.val_loss, 4).c_str(), fixed(result.val_bpb, 4).c_str(),
                  partial_note(data).c_str());
      std::printf("%s\n", exact_score_line("final_eval", result.val_loss, result.val_bpb, data).c_str());
      return kExitOk;
    };
  });
}

}  // namespace dg::cli
