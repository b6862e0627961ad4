#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <random>
#include <sstream>

#include "artifact/hardware.h"
#include "artifact/model_artifact.h"
#include "artifact/roundtrip.h"
#include "backend/backend.h"
#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "data/token_loader.h"
#include "model/block_statistics.h"
#include "model/model_factory.h"
#include "train/evaluate.h"
#include "train/model_io.h"
#include "train/numeric_faults.h"
#include "train/optimizer.h"
#include "train/qat.h"
#include "train/run_context.h"
#include "train/run_folder.h"
#include "train/schedule.h"
#include "train/settings_checks.h"

namespace dg {
namespace fs = std::filesystem;

namespace {
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string fresh_run_id() {
  std::random_device rd;
  std::ostringstream id;
  id << std::hex << rd() << rd();
  return id.str();
}

const char* py_bool(bool b) { return b ? "True" : "False"; }

std::string duration_text(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  std::ostringstream out;
  if (s >= 3600) out << s / 3600 << "h";
  if (s >= 60) out << (s % 3600) / 60 << "m";
  out << s % 60 << "s";
  return out.str();
}

ScheduleSettings schedule_settings(const Config& c) {
  ScheduleSettings s;
  s.iterations = c.get_int("iterations");
  s.warmdown_iters = c.get_int("warmdown_iters");
  s.max_wallclock_seconds = c.get_double("max_wallclock_seconds");
  s.muon_momentum = c.get_double("muon_momentum");
  s.muon_momentum_warmup_start = c.get_double("muon_momentum_warmup_start");
  s.muon_momentum_warmup_steps = c.get_int("muon_momentum_warmup_steps");
  return s;
}

// What a run is, worked out from its settings before anything is read or written.
struct RunShape {
  WorldInfo world;
  int64_t accum = 1, seq_len = 0, batch_tokens = 0, iterations = 0, micro_rows = 0;
  int threads = 1;
};

RunShape check_run_shape(const Config& config) {
  RunShape r;
  r.world = WorldInfo::from_environment();
  const WorldInfo& world = r.world;
  DG_CHECK(world.world_size == 1, "WORLD_SIZE=" << world.world_size
                                                << ": multi-process training is not available yet in this build");
  r.accum = config.get_int("grad_accum_steps") > 0 ? config.get_int("grad_accum_steps") : 8 / world.world_size;
  DG_CHECK(config.get_int("grad_accum_steps") > 0 || 8 % world.world_size == 0,
           "WORLD_SIZE=" << world.world_size << " must divide 8 so grad_accum_steps stays integral (or set grad_accum_steps)");
  r.threads = apply_thread_setting(config);
  r.seq_len = config.get_int("train_seq_len");
  r.batch_tokens = config.get_int("train_batch_tokens");
  r.iterations = config.get_int("iterations");
  DG_CHECK(r.batch_tokens % (world.world_size * r.accum) == 0,
           "TRAIN_BATCH_TOKENS=" << r.batch_tokens << " must be divisible by WORLD_SIZE × grad_accum_steps = "
                                 << world.world_size * r.accum);
  const int64_t local_tokens = r.batch_tokens / (world.world_size * r.accum);
  DG_CHECK(local_tokens % r.seq_len == 0 && local_tokens > 0,
           "TRAIN_BATCH_TOKENS / (WORLD_SIZE × grad_accum_steps) = " << local_tokens
                                                                     << " must be a positive multiple of TRAIN_SEQ_LEN=" << r.seq_len);
  r.micro_rows = local_tokens / r.seq_len;
  return r;
}

// A step whose loss or gradient is not finite: what went wrong, in words a user can act on.
std::string describe_fault(double train_loss, double grad_sq, int64_t step, LanguageModel& model, Backend& backend) {
  std::ostringstream text;
  text << "step " << step << ": train_loss " << train_loss << ", gradient norm " << std::sqrt(grad_sq);
  const std::string grad = first_non_finite_tensor(model.layout(), backend, model.grads());
  if (!grad.empty()) text << "; first non-finite gradient: " << grad;
  const std::string weight = first_non_finite_tensor(model.layout(), backend, model.params());
  if (!weight.empty()) text << "; the weights themselves are not finite any more, first: " << weight;
  return text.str();
}

void run_training(const TrainRequest& request, const Config& config, const RunShape& shape, TrainSummary& summary,
                  Logger& log) {
  const WorldInfo& world = shape.world;
  const int64_t accum = shape.accum, seq_len = shape.seq_len, batch_tokens = shape.batch_tokens;
  const int64_t iterations = shape.iterations, micro_rows = shape.micro_rows;
  MetricsWriter metrics(summary.out_dir / "metrics.jsonl");
  metrics.write({{"event", "run_start"}, {"run_id", config.get_string("run_id")}, {"preset", request.preset},
                 {"config", config.values()}});
  log.log(summary.log_file.string());
  log.log(config.values().dump(2), /*console=*/false);

  const fs::path data_path = config.get_string("data_path");
  const fs::path tokenizer_path = config.get_string("tokenizer_path");
  EvalData eval_data = load_eval_data(config, data_path, tokenizer_path);
  const std::string train_pattern = (data_path / "fineweb_train_*.bin").string();
  data::DistributedTokenLoader loader(train_pattern, world.rank, world.world_size, config.get_int("vocab_size"));
  log.log("val_bpb:enabled tokenizer_kind=sentencepiece tokenizer_path=" + tokenizer_path.string());
  log.log("train_loader:dataset:" + fs::absolute(data_path).lexically_normal().filename().string() +
          " train_shards:" + std::to_string(loader.num_shards()));
  log.log("val_loader:shards pattern=" + eval_data.val_pattern + " tokens:" + std::to_string(eval_data.scored_targets()) +
          (eval_data.partial() ? " of " + std::to_string(eval_data.split_targets) + " (val_max_tokens)" : ""));

  std::unique_ptr<Backend> backend = make_cpu_backend();
  std::unique_ptr<LanguageModel> model = make_model(config, *backend, micro_rows, seq_len);
  {
    std::vector<float> init(static_cast<size_t>(model->layout().buffer_elements()));
    model->layout().initialize(init.data(), static_cast<uint64_t>(config.get_int("seed")));
    backend->copy_from_host(model->params(), init.data());
  }
  const OptimizerSettings opt_settings = OptimizerSettings::from_config(config);
  Optimizer optimizer(model->layout(), *backend, model->params(), model->grads(), opt_settings);
  QuantAwareTraining qat(config, *backend, *model);

  log.log("model_params:" + std::to_string(model->layout().parameter_count()));
  log.log("world_size:" + std::to_string(world.world_size) + " grad_accum_steps:" + std::to_string(accum));
  log.log(std::string("backend:") + backend->name() + " threads:" + std::to_string(shape.threads) +
          " preset:" + request.preset + " model:" + config.get_string("model"));
  log.log(std::string("attention_mode:") + (config.get_int("num_kv_heads") != config.get_int("num_heads") ? "gqa" : "mha") +
          " num_heads:" + std::to_string(config.get_int("num_heads")) +
          " num_kv_heads:" + std::to_string(config.get_int("num_kv_heads")));
  const bool tied = config.get_bool("tie_embeddings");
  std::ostringstream lrs;
  lrs << "tie_embeddings:" << py_bool(tied) << " embed_lr:" << opt_settings.token_lr
      << " head_lr:" << (tied ? 0.0 : opt_settings.head_lr) << " matrix_lr:" << opt_settings.matrix_lr
      << " scalar_lr:" << opt_settings.scalar_lr;
  log.log(lrs.str());
  log.log("train_batch_tokens:" + std::to_string(batch_tokens) + " train_seq_len:" + std::to_string(seq_len) +
          " iterations:" + std::to_string(iterations) + " warmup_steps:" + std::to_string(config.get_int("warmup_steps")) +
          " max_wallclock_seconds:" + fixed(config.get_double("max_wallclock_seconds"), 3));
  log.log("seed:" + std::to_string(config.get_int("seed")));
  // train_gpt.py's warmup steps only prime torch.compile and are then undone (weights, optimizer
  // state and loader all restored), so they never change a result; dartgolf has nothing to compile.

  const ScheduleSettings schedule = schedule_settings(config);
  const double max_wallclock_ms = schedule.max_wallclock_seconds > 0 ? 1000.0 * schedule.max_wallclock_seconds : 0.0;
  const int64_t val_every = config.get_int("val_loss_every");
  const int64_t log_every = config.get_int("train_log_every");
  const int64_t checkpoint_every = config.get_int("checkpoint_every");
  const bool skip_faults = config.get_string("on_nan") == "skip";
  const int64_t nan_skip_limit = config.get_int("nan_skip_limit");
  data::TokenBatch batch;
  std::vector<BlockObservation> block_observations;  // τ logging: the last micro-batch's block values
  EvalOptions eval_options;
  eval_options.rank = world.rank;
  eval_options.world_size = world.world_size;

  double training_time_ms = 0.0;
  int64_t stop_after_step = -1;
  int64_t skipped_in_a_row = 0;
  fs::path last_checkpoint;
  auto t0 = Clock::now();
  int64_t step = 0;
  while (true) {
    const bool last_step = step == iterations || (stop_after_step >= 0 && step >= stop_after_step);
    if (last_step || (val_every > 0 && step % val_every == 0)) {
      training_time_ms += ms_since(t0);
      qat.release(*model);  // validation scores the master weights
      const EvalResult r = evaluate(*model, eval_data.val_tokens, eval_data.luts, eval_options);
      log.log("step:" + std::to_string(step) + "/" + std::to_string(iterations) + " val_loss:" + fixed(r.val_loss, 4) +
              " val_bpb:" + fixed(r.val_bpb, 4) + " train_time:" + fixed(training_time_ms, 0) +
              "ms step_avg:" + fixed(training_time_ms / std::max<int64_t>(step, 1), 2) + "ms");
      metrics.write({{"event", "val"}, {"step", step}, {"val_loss", r.val_loss}, {"val_bpb", r.val_bpb},
                     {"train_time_ms", training_time_ms}, {"tokens_seen", step * batch_tokens},
                     {"val_targets", r.tokens}});
      summary.val_loss = r.val_loss;
      summary.val_bpb = r.val_bpb;
      t0 = Clock::now();
    }
    if (last_step) {
      if (stop_after_step >= 0 && step < iterations) {
        log.log("stopping_early: wallclock_cap train_time:" + fixed(training_time_ms, 0) + "ms step:" +
                std::to_string(step) + "/" + std::to_string(iterations));
      }
      break;
    }

    const double elapsed_ms = training_time_ms + ms_since(t0);
    const double lr_mul = lr_multiplier(schedule, step, elapsed_ms);
    if (qat.enabled()) qat.prepare_step(*model, step, iterations, elapsed_ms, max_wallclock_ms, log);
    backend->fill(model->grads(), 0.0f);
    model->set_training(true);
    double train_loss = 0.0;
    for (int64_t micro = 0; micro < accum; ++micro) {
      loader.next_batch(batch_tokens, seq_len, accum, batch);
      train_loss += model->forward(ModelBatch{batch.inputs.data(), batch.targets.data(), micro_rows, seq_len});
      model->backward(1.0f / static_cast<float>(accum));
    }
    train_loss /= static_cast<double>(accum);
    // A non-finite loss or gradient is caught before the update can spread it into the weights.
    const double grad_sq = backend->sum_squares(model->grads());
    if (!std::isfinite(train_loss) || !std::isfinite(grad_sq)) {
      const std::string fault = describe_fault(train_loss, grad_sq, step + 1, *model, *backend);
      metrics.write({{"event", "non_finite"}, {"step", step + 1}, {"detail", fault}});
      if (!skip_faults || skipped_in_a_row + 1 >= nan_skip_limit) {
        DG_THROW("training diverged at " << fault << ". Stopped before applying the step (on_nan="
                                         << (skip_faults ? "skip: " + std::to_string(nan_skip_limit) + " steps in a row" : "stop")
                                         << "); no final model was written"
                                         << (last_checkpoint.empty() ? std::string()
                                                                     : "; last good checkpoint: " + last_checkpoint.string())
                                         << ". Lower the learning rates or set grad_clip_norm");
      }
      ++skipped_in_a_row;
      log.log("skipped " + fault + " (on_nan=skip, " + std::to_string(skipped_in_a_row) + " in a row)");
      ++step;
      continue;
    }
    skipped_in_a_row = 0;
    optimizer.step(lr_mul, muon_momentum_at(schedule, step), std::sqrt(grad_sq));

    ++step;
    const double approx_ms = training_time_ms + ms_since(t0);
    if (log_every > 0 && (step <= 10 || step % log_every == 0 || stop_after_step >= 0)) {
      log.log("step:" + std::to_string(step) + "/" + std::to_string(iterations) + " train_loss:" + fixed(train_loss, 4) +
              " train_time:" + fixed(approx_ms, 0) + "ms step_avg:" + fixed(approx_ms / step, 2) + "ms");
      model->observe_blocks(block_observations, "tau_fusion");
      const TauLog tau = tau_log(block_observations, step);
      for (const std::string& line : tau.lines) log.log(line);
      for (const nlohmann::json& record : tau.records) metrics.write(record);
    }
    metrics.write({{"event", "train"}, {"step", step}, {"train_loss", train_loss}, {"lr_mul", lr_mul},
                   {"train_time_ms", approx_ms}});
    const double tokens_per_s = static_cast<double>(step * batch_tokens) / std::max(approx_ms / 1000.0, 1e-9);
    double remaining_s = (iterations - step) * approx_ms / step / 1000.0;
    if (max_wallclock_ms > 0) remaining_s = std::min(remaining_s, std::max(max_wallclock_ms - approx_ms, 0.0) / 1000.0);
    log.progress("step " + std::to_string(step) + "/" + std::to_string(iterations) + "  loss " + fixed(train_loss, 4) +
                 "  " + fixed(tokens_per_s, 0) + " tok/s  eta " + duration_text(remaining_s));
    if (checkpoint_every > 0 && step % checkpoint_every == 0 && world.rank == 0) {
      char name[64];
      std::snprintf(name, sizeof name, "checkpoint_step%06lld.safetensors", static_cast<long long>(step));
      last_checkpoint = summary.out_dir / name;
      save_model_checkpoint(last_checkpoint, *model, *backend, config, step);
    }
    if (stop_after_step < 0 && max_wallclock_ms > 0 && approx_ms >= max_wallclock_ms) stop_after_step = step;
  }

  summary.steps = step;
  summary.train_time_ms = training_time_ms;
  summary.checkpoint = summary.out_dir / "final_model.safetensors";
  if (world.rank == 0) {
    save_model_checkpoint(summary.checkpoint, *model, *backend, config, step,
                          {{"val_loss", fixed(summary.val_loss, 8)}, {"val_bpb", fixed(summary.val_bpb, 8)},
                           {"train_tokens", std::to_string(step * batch_tokens)},
                           {"hardware", artifact::describe_hardware(backend->name(), shape.threads)}});
    log.log("Serialized model: " + std::to_string(fs::file_size(summary.checkpoint)) + " bytes (" +
            summary.checkpoint.string() + ")");
    log.log(exact_score_line("final_val", summary.val_loss, summary.val_bpb, eval_data));
    // train_gpt.py's ending: pack the int8+zlib artifact, reload it and score the round trip.
    const nlohmann::json artifact_meta{{"step", step}, {"train_tokens", step * batch_tokens},
                                       {"val_loss", summary.val_loss}, {"val_bpb", summary.val_bpb},
                                       {"preset", request.preset},
                                       {"hardware", artifact::describe_hardware(backend->name(), shape.threads)}};
    artifact::finish_with_artifact(*model, *backend, config, artifact_meta, summary.out_dir, summary.checkpoint,
                                   eval_data, eval_options, summary.val_loss, summary.val_bpb, log, metrics);
  }
}
}  // namespace

TrainSummary train(const TrainRequest& request) {
  Config config = request.config;
  if (config.get_string("run_id").empty()) config.set_value("run_id", fresh_run_id(), "generated");
  // Every setting (model shape and blocks, loop, optimizer, artifact, QAT) is checked before
  // anything touches data or the disk, so a typo fails in a second instead of after a whole run.
  model_layout(config);
  check_run_settings(config);
  artifact::ArtifactSettings::from_config(config);
  QatSettings::from_config(config);
  const RunShape shape = check_run_shape(config);

  TrainSummary summary;
  summary.out_dir = request.out_dir.empty() ? fs::path("runs") / config.get_string("run_id") : request.out_dir;
  prepare_fresh_run_folder(summary.out_dir, request.overwrite);
  summary.log_file = summary.out_dir / "train_log.txt";
  Logger log(summary.log_file, shape.world.rank == 0);
  try {
    run_training(request, config, shape, summary, log);
  } catch (const std::exception& e) {
    // The log file is where a user looks after a long run: why it ended belongs there too.
    log.log("error: " + printable(e.what()), /*console=*/false);
    throw;
  }
  return summary;
}

}  // namespace dg
