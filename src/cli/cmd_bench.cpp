#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/log.h"
#include "model/settings.h"
#include "train/bench.h"

namespace dg::cli {

void add_bench_command(CLI::App& app, Runner& run) {
  struct Options {
    std::string preset = "tiny";
    std::vector<std::string> assignments;
    int64_t steps = 10, warmup = 2;
    bool json = false;
    std::string device;
  };
  auto options = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure training throughput (tokens/s, GFLOP/s) of one step configuration");
  cmd->add_option("--preset", options->preset, "Preset to measure")->capture_default_str();
  cmd->add_option("--set", options->assignments, "Override a setting, key=value (repeatable; threads=N sets CPU threads)");
  cmd->add_option("--steps", options->steps, "Timed training steps")->capture_default_str();
  cmd->add_option("--warmup", options->warmup, "Untimed steps first")->capture_default_str();
  cmd->add_flag("--json", options->json, "Print one JSON object instead of text");
  add_device_option(cmd, options->device);
  cmd->footer("Random tokens, no data needed. Each step is a full train_gpt.py step: grad_accum_steps micro-batches\n"
              "of forward and backward, then the Adam/Muon update. scripts/bench/cpu_vs_torch.sh runs the PyTorch peer beside it.");
  cmd->callback([&run, options]() {
    run = [options]() {
      RunConfigSources sources;
      sources.preset = options->preset;
      sources.assignments = options->assignments;
      if (!options->device.empty()) sources.assignments.push_back("device=" + options->device);
      const Config config = resolve_run_config(sources);
      const BenchResult r = run_bench(config, options->warmup, options->steps);
      if (options->json) {
        nlohmann::json j{{"impl", "dartgolf"}, {"backend", r.backend}, {"preset", options->preset},
                         {"threads", r.threads}, {"steps", r.steps}, {"tokens_per_step", r.tokens_per_step},
                         {"seconds", r.seconds}, {"tokens_per_second", r.tokens_per_second},
                         {"ms_per_step", r.ms_per_step}, {"gflops_per_second", r.gflops_per_second},
                         {"parameters", r.parameters}, {"device", r.device},
                         {"peak_memory_bytes", r.peak_memory_bytes}};
        std::printf("%s\n", j.dump().c_str());
      } else {
        std::printf("bench preset:%s backend:%s threads:%d params:%lld tokens_per_step:%lld\n", options->preset.c_str(),
                    r.backend.c_str(), r.threads, static_cast<long long>(r.parameters),
                    static_cast<long long>(r.tokens_per_step));
        std::printf("device:%s\n", r.device.c_str());
        std::printf("steps:%lld step_avg:%sms tokens_per_s:%s model_gflops_per_s:%s peak_memory:%lld bytes\n",
                    static_cast<long long>(r.steps), fixed(r.ms_per_step, 2).c_str(),
                    fixed(r.tokens_per_second, 0).c_str(), fixed(r.gflops_per_second, 2).c_str(),
                    static_cast<long long>(r.peak_memory_bytes));
      }
      return kExitOk;
    };
  });
}

}  // namespace dg::cli
