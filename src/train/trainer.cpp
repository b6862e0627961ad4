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
#include "dist/make_communicator.h"
#include "dist/rendezvous.h"
#include "model/block_statistics.h"
#include "model/model_factory.h"
#include "train/disk_budget.h"
#include "train/evaluate.h"
#include "train/model_io.h"
#include "train/numeric_faults.h"
#include "train/optimizer.h"
#include "train/qat.h"
#include "train/replica_check.h"
#include "train/run_context.h"
#include "train/run_folder.h"
#include "train/schedule.h"
#include "train/settings_checks.h"
#include "train/gradient_reducer.h"
#include "train/step_agreement.h"
#include "train/stop_signals.h"

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
  r.accum = config.get_int("grad_accum_steps") > 0 ? config.get_int("grad_accum_steps") : 8 / world.world_size;
  DG_CHECK(config.get_int("grad_accum_steps") > 0 || 8 % world.world_size == 0,
           "WORLD_SIZE=" << world.world_size << " must divide 8 so grad_accum_steps stays integral (or set grad_accum_steps)");
  r.threads = apply_thread_setting(config, world.local_world_size);
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

// One training run from its first (or resumed) step to its artifact: the loop of train_gpt.py with
// dartgolf's checkpoints, signals and numerical-fault handling around it.
class TrainingRun {
 public:
  // `rendezvous`: the job's other ranks (null for a single process).
  TrainingRun(const TrainRequest& request, const Config& config, const RunShape& shape, TrainSummary& summary,
              Logger& log, dist::Rendezvous* rendezvous)
      : request_(request), config_(config), shape_(shape), summary_(summary), log_(log), rendezvous_(rendezvous),
        metrics_(shape.world.rank == 0 ? MetricsWriter(summary.out_dir / "metrics.jsonl") : MetricsWriter()),
        schedule_(schedule_settings(config)),
        max_wallclock_ms_(schedule_.max_wallclock_seconds > 0 ? 1000.0 * schedule_.max_wallclock_seconds : 0.0) {}

  void run();

 private:
  void set_up();
  void log_header(const OptimizerSettings& opt);
  void resume_from(const ResumePoint& point);
  // Scores the validation split; training time stands still meanwhile.
  void validate(bool last);
  // Runs one step; false when it was skipped (on_nan=skip). Throws when training diverged.
  bool train_step(double& train_loss, double& lr_mul);
  void log_step(double train_loss, double lr_mul);
  bool checkpoint_due() const;
  void write_train_checkpoint(const char* reason);
  TrainState current_state() const;
  void finish();
  // Every rank arrives here before any leaves, so none exits (and makes a launcher stop the others)
  // while rank 0 still writes files.
  void leave_together() { comm_->barrier(); }
  double training_ms() const { return progress_.training_time_ms + (timer_running_ ? ms_since(t0_) : 0.0); }
  void pause_timer() {
    progress_.training_time_ms += ms_since(t0_);
    timer_running_ = false;
  }
  void resume_timer() {
    t0_ = Clock::now();
    timer_running_ = true;
  }

  const TrainRequest& request_;
  const Config& config_;
  const RunShape& shape_;
  TrainSummary& summary_;
  Logger& log_;
  dist::Rendezvous* rendezvous_;
  MetricsWriter metrics_;
  const ScheduleSettings schedule_;
  const double max_wallclock_ms_;

  EvalData eval_data_;
  std::unique_ptr<data::DistributedTokenLoader> loader_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<dist::Communicator> comm_;  // gradients, Muon's shards, validation sums
  std::unique_ptr<StepAgreement> agreement_;
  std::unique_ptr<GradientReducer> gradient_reducer_;  // several ranks: the gradient average in buckets
  bool logged_gradient_buckets_ = false;
  std::unique_ptr<LanguageModel> model_;
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<QuantAwareTraining> qat_;
  EvalOptions eval_options_;
  data::TokenBatch batch_;
  std::vector<BlockObservation> block_observations_;  // τ logging: the last micro-batch's block values

  TrainProgress progress_;
  // Training time as all ranks agreed at the last step boundary (rank 0's clock): what the schedule,
  // QAT and the wall-clock cap read, so every rank takes the same learning rate and stops together.
  double agreed_ms_ = 0.0;
  Clock::time_point t0_;
  bool timer_running_ = false;
  Clock::time_point last_checkpoint_time_ = Clock::now();
  fs::path last_checkpoint_;
};

void TrainingRun::set_up() {
  const fs::path data_path = config_.get_string("data_path");
  const fs::path tokenizer_path = config_.get_string("tokenizer_path");
  eval_data_ = load_eval_data(config_, data_path, tokenizer_path);
  loader_ = std::make_unique<data::DistributedTokenLoader>((data_path / "fineweb_train_*.bin").string(), shape_.world.rank,
                                                           shape_.world.world_size, config_.get_int("vocab_size"));
  log_.log("val_bpb:enabled tokenizer_kind=sentencepiece tokenizer_path=" + tokenizer_path.string());
  log_.log("train_loader:dataset:" + fs::absolute(data_path).lexically_normal().filename().string() +
           " train_shards:" + std::to_string(loader_->num_shards()));
  log_.log("val_loader:shards pattern=" + eval_data_.val_pattern + " tokens:" + std::to_string(eval_data_.scored_targets()) +
           (eval_data_.partial() ? " of " + std::to_string(eval_data_.split_targets) + " (val_max_tokens)" : ""));

  backend_ = backend_for_run(config_, shape_.world, &log_);
  comm_ = dist::make_communicator(rendezvous_, *backend_);
  agreement_ = std::make_unique<StepAgreement>(*comm_);
  model_ = make_model(config_, *backend_, shape_.micro_rows, shape_.seq_len);
  {
    std::vector<float> init(static_cast<size_t>(model_->layout().buffer_elements()));
    model_->layout().initialize(init.data(), static_cast<uint64_t>(config_.get_int("seed")));
    backend_->copy_from_host(model_->params(), init.data());
  }
  const OptimizerSettings opt_settings = OptimizerSettings::from_config(config_);
  optimizer_ = std::make_unique<Optimizer>(model_->layout(), *backend_, model_->params(), model_->grads(), opt_settings,
                                           comm_.get());
  if (shape_.world.distributed()) gradient_reducer_ = std::make_unique<GradientReducer>(*comm_, model_->grads());
  qat_ = std::make_unique<QuantAwareTraining>(config_, *backend_, *model_);
  eval_options_.comm = comm_.get();
  log_header(opt_settings);
  if (shape_.world.rank == 0) check_disk_budget(summary_.out_dir, model_->layout(), config_, log_);
}

void TrainingRun::log_header(const OptimizerSettings& opt) {
  log_.log("model_params:" + std::to_string(model_->layout().parameter_count()));
  log_.log("world_size:" + std::to_string(shape_.world.world_size) + " grad_accum_steps:" + std::to_string(shape_.accum));
  if (shape_.world.distributed())
    log_.log(std::string("distributed: communicator:") + comm_->name() + " rendezvous:" + rendezvous_->where() +
             " muon: matrix i orthogonalised by rank i % " + std::to_string(shape_.world.world_size));
  log_.log(std::string("backend:") + backend_->name() + " threads:" + std::to_string(shape_.threads) +
           " preset:" + request_.preset + " model:" + config_.get_string("model"));
  log_.log(std::string("attention_mode:") +
           (config_.get_int("num_kv_heads") != config_.get_int("num_heads") ? "gqa" : "mha") +
           " num_heads:" + std::to_string(config_.get_int("num_heads")) +
           " num_kv_heads:" + std::to_string(config_.get_int("num_kv_heads")));
  const bool tied = config_.get_bool("tie_embeddings");
  std::ostringstream lrs;
  lrs << "tie_embeddings:" << py_bool(tied) << " embed_lr:" << opt.token_lr << " head_lr:" << (tied ? 0.0 : opt.head_lr)
      << " matrix_lr:" << opt.matrix_lr << " scalar_lr:" << opt.scalar_lr;
  log_.log(lrs.str());
  log_.log("train_batch_tokens:" + std::to_string(shape_.batch_tokens) + " train_seq_len:" + std::to_string(shape_.seq_len) +
           " iterations:" + std::to_string(shape_.iterations) + " warmup_steps:" +
           std::to_string(config_.get_int("warmup_steps")) +
           " max_wallclock_seconds:" + fixed(config_.get_double("max_wallclock_seconds"), 3));
  log_.log("seed:" + std::to_string(config_.get_int("seed")));
  // train_gpt.py's warmup steps only prime torch.compile and are then undone (weights, optimizer
  // state and loader all restored), so they never change a result; dartgolf has nothing to compile.
}

void TrainingRun::resume_from(const ResumePoint& point) {
  const TrainState& state = point.state;
  DG_CHECK(state.loader_shards == loader_->num_shards(),
           "--resume: the run read " << state.loader_shards << " training shard(s), the data folder now holds "
                                     << loader_->num_shards() << "; it would not continue on the same data");
  restore_weights_and_optimizer(point, *model_, *backend_, *optimizer_);
  loader_->seek(state.loader);
  qat_->restore(state.qat);
  if (Rng* rng = model_->training_rng()) {
    DG_CHECK(state.model_rng.has_value(), point.path.string() << ": no saved state for the model's random generator");
    rng->restore(*state.model_rng);
  }
  progress_ = state.progress;
  last_checkpoint_ = point.path;
  log_.log("resume: continuing run " + state.run_id + " from step " + std::to_string(progress_.step) + " (" +
           point.path.filename().string() + ", train_time:" + fixed(progress_.training_time_ms, 0) + "ms, loaded in " +
           fixed(point.load_ms, 0) + "ms)");
  metrics_.write({{"event", "resume"}, {"step", progress_.step}, {"checkpoint", point.path.filename().string()},
                  {"train_time_ms", progress_.training_time_ms}});
}

void TrainingRun::validate(bool last) {
  pause_timer();
  qat_->release(*model_);  // validation scores the master weights
  const EvalResult r = evaluate(*model_, eval_data_.val_tokens, eval_data_.luts, eval_options_);
  const int64_t step = progress_.step;
  const double ms = progress_.training_time_ms;
  log_.log("step:" + std::to_string(step) + "/" + std::to_string(shape_.iterations) + " val_loss:" + fixed(r.val_loss, 4) +
           " val_bpb:" + fixed(r.val_bpb, 4) + " train_time:" + fixed(ms, 0) +
           "ms step_avg:" + fixed(ms / std::max<int64_t>(step, 1), 2) + "ms");
  metrics_.write({{"event", "val"}, {"step", step}, {"val_loss", r.val_loss}, {"val_bpb", r.val_bpb},
                  {"train_time_ms", ms}, {"tokens_seen", step * shape_.batch_tokens}, {"val_targets", r.tokens}});
  summary_.val_loss = r.val_loss;
  summary_.val_bpb = r.val_bpb;
  if (!last) resume_timer();
}

bool TrainingRun::train_step(double& train_loss, double& lr_mul) {
  const int64_t step = progress_.step;
  const double elapsed_ms = agreed_ms_;
  lr_mul = lr_multiplier(schedule_, step, elapsed_ms);
  if (qat_->enabled()) qat_->prepare_step(*model_, step, shape_.iterations, elapsed_ms, max_wallclock_ms_, log_);
  backend_->fill(model_->grads(), 0.0f);
  model_->set_training(true);
  train_loss = 0.0;
  // This rank's micro-batch m is micro-batch m·WORLD_SIZE + rank of the global batch (the loader's
  // layout): its random draws skip those of the micro-batches of the other ranks.
  Rng* rng = model_->training_rng();
  const uint64_t draws = rng != nullptr ? model_->random_draws_per_forward() : 0;
  const auto rank = static_cast<uint64_t>(shape_.world.rank), ranks = static_cast<uint64_t>(shape_.world.world_size);
  for (int64_t micro = 0; micro < shape_.accum; ++micro) {
    loader_->next_batch(shape_.batch_tokens, shape_.seq_len, shape_.accum, batch_);
    if (draws > 0) rng->discard(rank * draws);
    train_loss += model_->forward(ModelBatch{batch_.inputs.data(), batch_.targets.data(), shape_.micro_rows, shape_.seq_len});
    if (draws > 0) rng->discard((ranks - 1 - rank) * draws);
    // The last micro-batch's backward hands each part of the gradient to the reducer as soon as
    // it is final, so averaging it over the ranks overlaps the rest of backward.
    const bool last = micro + 1 == shape_.accum;
    if (gradient_reducer_ && last)
      model_->report_final_gradients([this](int64_t begin, int64_t end) { gradient_reducer_->reduce_final(begin, end); });
    model_->backward(1.0f / static_cast<float>(shape_.accum));
    model_->report_final_gradients(nullptr);
  }
  // The global batch's gradient: the mean of the ranks' (each already the mean over its micro-batches).
  if (gradient_reducer_) {
    gradient_reducer_->finish();
    if (!logged_gradient_buckets_) {
      log_.log("gradient_all_reduce: " + std::to_string(gradient_reducer_->early_buckets()) +
               " buckets averaged during backward, the rest after it");
      logged_gradient_buckets_ = true;
    }
  }
  train_loss = agreement_->mean_loss(train_loss / static_cast<double>(shape_.accum));
  // A non-finite loss or gradient is caught before the update can spread it into the weights.
  const double grad_sq = backend_->sum_squares(model_->grads());
  if (std::isfinite(train_loss) && std::isfinite(grad_sq)) {
    progress_.skipped_in_a_row = 0;
    optimizer_->step(lr_mul, muon_momentum_at(schedule_, step), std::sqrt(grad_sq));
    return true;
  }
  std::ostringstream fault;
  fault << "step " << step + 1 << ": train_loss " << train_loss << ", gradient norm " << std::sqrt(grad_sq);
  if (const std::string g = first_non_finite_tensor(model_->layout(), *backend_, model_->grads()); !g.empty())
    fault << "; first non-finite gradient: " << g;
  if (const std::string w = first_non_finite_tensor(model_->layout(), *backend_, model_->params()); !w.empty())
    fault << "; the weights themselves are not finite any more, first: " << w;
  metrics_.write({{"event", "non_finite"}, {"step", step + 1}, {"detail", fault.str()}});
  const bool skip = config_.get_string("on_nan") == "skip";
  const int64_t limit = config_.get_int("nan_skip_limit");
  if (!skip || progress_.skipped_in_a_row + 1 >= limit) {
    DG_THROW("training diverged at " << fault.str() << ". Stopped before applying the step (on_nan="
                                     << (skip ? "skip: " + std::to_string(limit) + " steps in a row" : "stop")
                                     << "); no final model was written"
                                     << (last_checkpoint_.empty() ? std::string()
                                                                  : "; last good checkpoint: " + last_checkpoint_.string())
                                     << ". Lower the learning rates or set grad_clip_norm");
  }
  ++progress_.skipped_in_a_row;
  log_.log("skipped " + fault.str() + " (on_nan=skip, " + std::to_string(progress_.skipped_in_a_row) + " in a row)");
  return false;
}

void TrainingRun::log_step(double train_loss, double lr_mul) {
  const int64_t step = progress_.step, iterations = shape_.iterations;
  const double approx_ms = training_ms();
  const int64_t log_every = config_.get_int("train_log_every");
  if (log_every > 0 && (step <= 10 || step % log_every == 0 || progress_.stop_after_step >= 0)) {
    log_.log("step:" + std::to_string(step) + "/" + std::to_string(iterations) + " train_loss:" + fixed(train_loss, 4) +
             " train_time:" + fixed(approx_ms, 0) + "ms step_avg:" + fixed(approx_ms / step, 2) + "ms");
    model_->observe_blocks(block_observations_, "tau_fusion");
    const TauLog tau = tau_log(block_observations_, step);
    for (const std::string& line : tau.lines) log_.log(line);
    for (const nlohmann::json& record : tau.records) metrics_.write(record);
  }
  metrics_.write({{"event", "train"}, {"step", step}, {"train_loss", train_loss}, {"lr_mul", lr_mul},
                  {"train_time_ms", approx_ms}});
  const double tokens_per_s = static_cast<double>(step * shape_.batch_tokens) / std::max(approx_ms / 1000.0, 1e-9);
  double remaining_s = static_cast<double>(iterations - step) * approx_ms / static_cast<double>(step) / 1000.0;
  if (max_wallclock_ms_ > 0)
    remaining_s = std::min(remaining_s, std::max(max_wallclock_ms_ - approx_ms, 0.0) / 1000.0);
  log_.progress("step " + std::to_string(step) + "/" + std::to_string(iterations) + "  loss " + fixed(train_loss, 4) +
                "  " + fixed(tokens_per_s, 0) + " tok/s  eta " + duration_text(remaining_s));
}

bool TrainingRun::checkpoint_due() const {
  const int64_t every = config_.get_int("checkpoint_every");
  const double every_s = config_.get_double("checkpoint_every_seconds");
  if (every > 0 && progress_.step % every == 0) return true;
  return every_s > 0 && std::chrono::duration<double>(Clock::now() - last_checkpoint_time_).count() >= every_s;
}

TrainState TrainingRun::current_state() const {
  TrainState s;
  s.progress = progress_;
  s.progress.training_time_ms = training_ms();
  s.loader = loader_->position();
  s.loader_shards = loader_->num_shards();
  s.optimizer_steps = optimizer_->steps_taken();
  if (Rng* rng = model_->training_rng()) s.model_rng = rng->state();
  s.qat = qat_->state();
  s.run_id = config_.get_string("run_id");
  s.preset = request_.preset;
  return s;
}

void TrainingRun::write_train_checkpoint(const char* reason) {
  if (shape_.world.rank != 0) return;
  const TrainState state = current_state();
  pause_timer();  // like validation, writing a checkpoint is not training time
  const fs::path path = summary_.out_dir / train_checkpoint_name(progress_.step);
  try {
    const auto t0 = Clock::now();
    save_train_checkpoint(path, *model_, *backend_, *optimizer_, config_, state);
    const double write_ms = ms_since(t0);
    last_checkpoint_ = path;
    prune_train_checkpoints(summary_.out_dir, config_.get_int("keep_checkpoints"));
    metrics_.write({{"event", "checkpoint"}, {"step", progress_.step}, {"file", path.filename().string()},
                    {"reason", reason}, {"bytes", static_cast<int64_t>(fs::file_size(path))}, {"write_ms", write_ms}});
  } catch (const Error& e) {
    // A full disk must not end hours of training: the previous checkpoint is intact, keep going.
    log_.log(std::string("warning: could not write ") + path.filename().string() + ": " + e.what() +
             "; training continues" + (last_checkpoint_.empty() ? "" : " (last good: " + last_checkpoint_.string() + ")"));
  }
  last_checkpoint_time_ = Clock::now();
  resume_timer();
}

void TrainingRun::run() {
  set_up();
  if (request_.resume) {
    resume_from(*request_.resume);
  } else {
    metrics_.write({{"event", "run_start"}, {"run_id", config_.get_string("run_id")}, {"preset", request_.preset},
                    {"config", config_.values()}});
  }
  agreed_ms_ = progress_.training_time_ms;
  if (rendezvous_ != nullptr) check_replicas_identical(*rendezvous_, config_, *model_, *backend_, *optimizer_, current_state());
  StopSignals signals;
  const int64_t val_every = config_.get_int("val_loss_every");
  resume_timer();
  while (true) {
    const int64_t step = progress_.step;
    const bool last_step = step == shape_.iterations || (progress_.stop_after_step >= 0 && step >= progress_.stop_after_step);
    if (last_step || (val_every > 0 && step % val_every == 0)) validate(last_step);
    if (last_step) {
      if (progress_.stop_after_step >= 0 && step < shape_.iterations) {
        log_.log("stopping_early: wallclock_cap train_time:" + fixed(progress_.training_time_ms, 0) + "ms step:" +
                 std::to_string(step) + "/" + std::to_string(shape_.iterations));
      }
      break;
    }
    double train_loss = 0.0, lr_mul = 1.0;
    const bool applied = train_step(train_loss, lr_mul);
    ++progress_.step;
    // Every rank stops at the same step: for a signal any of them received, or at the cap by rank 0's clock.
    const StepAgreement::Boundary boundary = agreement_->at_boundary(signals.requested(), training_ms());
    agreed_ms_ = boundary.training_ms;
    if (applied) log_step(train_loss, lr_mul);
    if (progress_.stop_after_step < 0 && max_wallclock_ms_ > 0 && agreed_ms_ >= max_wallclock_ms_)
      progress_.stop_after_step = progress_.step;
    if (const int signal = boundary.stop_signal) {
      write_train_checkpoint(StopSignals::name(signal));
      pause_timer();
      summary_.steps = progress_.step;
      summary_.train_time_ms = progress_.training_time_ms;
      summary_.stopped_by_signal = signal;
      summary_.checkpoint = last_checkpoint_;
      log_.log(std::string("stopped by ") + StopSignals::name(signal) + " at step " + std::to_string(progress_.step) +
               ": resumable checkpoint " + last_checkpoint_.string() + "; continue with: dartgolf train --resume " +
               summary_.out_dir.string());
      metrics_.write({{"event", "stopped"}, {"step", progress_.step}, {"signal", StopSignals::name(signal)}});
      leave_together();
      return;
    }
    if (checkpoint_due()) write_train_checkpoint("periodic");
  }
  finish();
}

void TrainingRun::finish() {
  const int64_t step = progress_.step;
  summary_.steps = step;
  summary_.train_time_ms = progress_.training_time_ms;
  summary_.checkpoint = summary_.out_dir / "final_model.safetensors";
  if (shape_.world.rank != 0) {
    // Rank 0 writes the model and the artifact; the others help score the artifact's round trip.
    artifact::score_artifact_of_rank0(*model_, *backend_, eval_data_, eval_options_);
    leave_together();
    return;
  }
  const std::string hardware = artifact::describe_hardware(backend_->name(), shape_.threads);
  save_model_checkpoint(summary_.checkpoint, *model_, *backend_, config_, step,
                        {{"val_loss", fixed(summary_.val_loss, 8)}, {"val_bpb", fixed(summary_.val_bpb, 8)},
                         {"train_tokens", std::to_string(step * shape_.batch_tokens)}, {"hardware", hardware}});
  log_.log("Serialized model: " + std::to_string(fs::file_size(summary_.checkpoint)) + " bytes (" +
           summary_.checkpoint.string() + ")");
  log_.log(exact_score_line("final_val", summary_.val_loss, summary_.val_bpb, eval_data_));
  // train_gpt.py's ending: pack the int8+zlib artifact, reload it and score the round trip.
  const nlohmann::json artifact_meta{{"step", step},           {"train_tokens", step * shape_.batch_tokens},
                                     {"val_loss", summary_.val_loss}, {"val_bpb", summary_.val_bpb},
                                     {"preset", request_.preset}, {"hardware", hardware}};
  artifact::finish_with_artifact(*model_, *backend_, config_, artifact_meta, summary_.out_dir, summary_.checkpoint,
                                 eval_data_, eval_options_, summary_.val_loss, summary_.val_bpb, log_, metrics_);
  leave_together();
}
}  // namespace

TrainSummary train(const TrainRequest& request) {
  Config config = request.config;
  // Every setting (model shape and blocks, loop, optimizer, artifact, QAT) is checked before
  // anything touches data or the disk, so a typo fails in a second instead of after a whole run.
  model_layout(config);
  check_run_settings(config);
  artifact::ArtifactSettings::from_config(config);
  QatSettings::from_config(config);
  const RunShape shape = check_run_shape(config);

  // The job's ranks meet before anything is written; rank 0's generated run id becomes everyone's.
  std::unique_ptr<dist::Rendezvous> rendezvous;
  if (shape.world.distributed()) {
    const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(1000.0 * config.get_double("dist_timeout_seconds")));
    rendezvous = std::make_unique<dist::Rendezvous>(shape.world, timeout);
  }
  if (config.get_string("run_id").empty()) {
    const std::string id = fresh_run_id();
    config.set_value("run_id", rendezvous ? rendezvous->share_from_rank0("run_id", id) : id, "generated");
  }

  TrainSummary summary;
  summary.rank = shape.world.rank;
  summary.out_dir = request.out_dir.empty() ? fs::path("runs") / config.get_string("run_id") : request.out_dir;
  // Rank 0 alone writes the run folder: the log, metrics, checkpoints and artifacts.
  if (!request.resume && shape.world.rank == 0) prepare_fresh_run_folder(summary.out_dir, request.overwrite);
  summary.log_file = summary.out_dir / "train_log.txt";
  Logger log(summary.log_file, shape.world.rank == 0);
  try {
    log.log(summary.log_file.string());
    log.log(config.values().dump(2), /*console=*/false);
    TrainingRun(request, config, shape, summary, log, rendezvous.get()).run();
  } catch (const std::exception& e) {
    // The log file is where a user looks after a long run: why it ended belongs there too.
    log.log("error: " + printable(e.what()), /*console=*/false);
    throw;
  }
  return summary;
}

}  // namespace dg
