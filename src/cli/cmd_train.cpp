#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "core/error.h"
#include "core/fs.h"
#include "model/settings.h"
#include "train/resume_config.h"
#include "train/trainer.h"

namespace dg::cli {

void add_train_command(CLI::App& app, Runner& run) {
  struct Options {
    std::string preset = "gpt";
    std::string config_file;
    std::vector<std::string> assignments;
    std::string out_dir;
    bool print_config = false;
    bool overwrite = false;
    std::string resume_dir;
    std::string device;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("train", "Train a model, validating as train_gpt.py does, and save a checkpoint");
  std::string presets;
  for (const auto& name : preset_names()) presets += (presets.empty() ? "" : "|") + name;
  cmd->add_option("--preset", options->preset, "Model and schedule preset (" + presets + ")")->capture_default_str();
  cmd->add_option("--config", options->config_file, "JSON file of settings (keys as train_gpt.py's, lower case)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", options->assignments,
                  "Override one setting, key=value (repeatable); precedence: preset < --config < environment < --set");
  cmd->add_option("--out", options->out_dir, "Run folder for the log, metrics and checkpoints (default runs/<run_id>)");
  auto* overwrite = cmd->add_flag("--overwrite", options->overwrite,
                                  "Replace a previous run in the --out folder (by default a folder holding a run is refused)");
  auto* resume = cmd->add_option("--resume", options->resume_dir,
                                 "Continue the run in RUNDIR from its newest good checkpoint (settings that would change "
                                 "the run are refused)");
  resume->excludes(overwrite);
  auto* preset_option = cmd->get_option("--preset");
  add_device_option(cmd, options->device);
  cmd->add_flag("--print-config", options->print_config, "Print the resolved settings with their sources and exit");
  cmd->add_flag("--json", options->json, "With --print-config: print the settings as one JSON object");
  cmd->footer(
      "Every setting can also come from its environment variable, as train_gpt.py reads them:\n"
      "DATA_PATH, TOKENIZER_PATH, VOCAB_SIZE, ITERATIONS, TRAIN_BATCH_TOKENS, TRAIN_SEQ_LEN,\n"
      "MAX_WALLCLOCK_SECONDS, VAL_LOSS_EVERY, SEED, MODEL_DIM, NUM_LAYERS, MATRIX_LR, ...");
  cmd->callback([&run, options, preset_option]() {
    run = [options, preset_option]() {
      RunConfigSources sources;
      sources.preset = options->preset;
      sources.config_file = options->config_file;
      sources.assignments = options->assignments;
      if (!options->device.empty()) sources.assignments.push_back("device=" + options->device);
      sources.getenv_fn = [](const char* name) { return std::getenv(name); };
      std::optional<ResumePoint> resume;
      std::optional<Config> stored;
      if (!options->resume_dir.empty()) {
        DG_CHECK(options->out_dir.empty() || same_file(options->out_dir, options->resume_dir),
                 "--resume " << options->resume_dir << " continues in that folder; drop --out " << options->out_dir);
        resume = find_resume_point(options->resume_dir, [](const std::string& note) { std::printf("%s\n", note.c_str()); });
        sources.resumed_config = resume->checkpoint.meta.config;
        sources.preset_given = preset_option->count() > 0;
        RunConfigSources run_only;  // the run's own config, nothing else: what changes are compared to
        run_only.resumed_config = sources.resumed_config;
        run_only.preset_given = false;
        stored = resolve_run_config(run_only);
        if (!sources.preset_given) options->preset = resume->state.preset;
      }
      Config config = resolve_run_config(sources);
      if (stored) check_resume_changes(*stored, config);
      if (options->print_config && options->json) {
        std::printf("%s\n", config.values().dump(2).c_str());
        return kExitOk;
      }
      if (options->print_config) {
        for (auto& [key, value] : config.values().items())
          std::printf("%-28s %-24s # %s\n", key.c_str(), value.dump().c_str(), config.origins().at(key).c_str());
        return kExitOk;
      }
      TrainRequest request{config, options->preset, resume ? options->resume_dir : options->out_dir, options->overwrite,
                           std::move(resume)};
      const TrainSummary summary = train(request);
      if (summary.rank == 0) std::printf("run folder: %s\n", summary.out_dir.string().c_str());
      return summary.stopped_by_signal ? kExitStopped : kExitOk;
    };
  });
}

}  // namespace dg::cli
