#include "train/inspect_blocks.h"

#include <algorithm>
#include <memory>
#include <sstream>

#include "backend/backend.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "model/model_factory.h"
#include "train/checkpoint.h"
#include "train/model_io.h"
#include "train/run_context.h"

namespace dg {
namespace fs = std::filesystem;

namespace {

// Passes everything through to the real model and, after each forward, hands the forward's block
// observations to `stats`: evaluate() then drives the inspection exactly as it drives validation.
class ObservingModel final : public LanguageModel {
 public:
  ObservingModel(LanguageModel& inner, BlockStatistics& stats) : inner_(inner), stats_(stats) {
    training_ = inner.training();
  }
  const ParamLayout& layout() const override { return inner_.layout(); }
  Tensor params() const override { return inner_.params(); }
  Tensor grads() const override { return inner_.grads(); }
  void set_forward_weights(const Tensor& weights) override { inner_.set_forward_weights(weights); }
  int64_t max_rows() const override { return inner_.max_rows(); }
  int64_t seq_len() const override { return inner_.seq_len(); }
  void set_training(bool training) override {
    inner_.set_training(training);
    training_ = training;
  }
  double forward(const ModelBatch& batch) override {
    const double loss = inner_.forward(batch);
    inner_.observe_blocks(observations_);
    stats_.add_forward(observations_);
    return loss;
  }
  void backward(float loss_scale) override { inner_.backward(loss_scale); }
  void token_losses(std::vector<float>& out) override { inner_.token_losses(out); }
  void observe_blocks(std::vector<BlockObservation>& out, std::string_view type = {}) override {
    inner_.observe_blocks(out, type);
  }

 private:
  LanguageModel& inner_;
  BlockStatistics& stats_;
  std::vector<BlockObservation> observations_;
};

bool config_has_blocks(const Config& config) {
  if (!config.has("blocks")) return false;
  const nlohmann::json& blocks = config.at("blocks");
  if (blocks.is_array()) return !blocks.empty();
  if (blocks.is_string()) {
    const std::string text = blocks.get<std::string>();
    return !text.empty() && text != "[]";
  }
  return false;
}

void check_model_has_blocks(const Config& config, const fs::path& checkpoint) {
  const std::string model = config.get_string("model");
  const char* how =
      "pluggable blocks are enabled with the `blocks` setting of a DART run, e.g. dartgolf train --preset dart "
      "--set blocks='[{\"type\":\"daam\",\"site\":\"mlp_input\"}]' (docs/blocks.md, \"DART use sites\")";
  DG_CHECK(model == "dart", "inspect --blocks: " << checkpoint.string() << " holds a " << model
                                                 << " model, which has no pluggable blocks; " << how);
  DG_CHECK(config_has_blocks(config), "inspect --blocks: the DART model in "
                                          << checkpoint.string() << " was trained without pluggable blocks (its "
                                          << "`blocks` setting is empty), so there is nothing to inspect; " << how);
}

}  // namespace

InspectBlocksResult inspect_blocks(const InspectBlocksRequest& request) {
  const LoadedCheckpoint checkpoint = load_checkpoint(request.checkpoint);
  Config config = checkpoint_config(checkpoint, request.checkpoint);
  check_model_has_blocks(config, request.checkpoint);
  DG_CHECK(request.max_tokens >= 0, "--max-tokens " << request.max_tokens << " must be >= 0 (0: the whole split)");
  // The whole validation split unless --max-tokens says otherwise: the training run's shortcut
  // (val_max_tokens) never follows its checkpoint.
  config.set_value("val_max_tokens", request.max_tokens, request.max_tokens > 0 ? "--max-tokens" : "default");
  use_command_device(config, "");
  apply_thread_setting(config);

  const fs::path data_path = request.data_dir.empty() ? fs::path(config.get_string("data_path")) : request.data_dir;
  DG_CHECK(fs::is_directory(data_path),
           "inspect --blocks: data folder " << data_path.string()
                                            << " does not exist; give --data DIR, a folder with fineweb_val_*.bin shards"
                                            << (request.data_dir.empty() ? " (the default is the run's data_path)" : ""));
  const fs::path tokenizer_path =
      request.tokenizer.empty() ? fs::path(config.get_string("tokenizer_path")) : request.tokenizer;
  const EvalData data = load_eval_data(config, data_path, tokenizer_path);

  // Batches as `dartgolf eval` makes them by default.
  const int64_t seq_len = config.get_int("train_seq_len");
  const int64_t rows = eval_batch_rows(config);
  std::unique_ptr<Backend> backend = backend_for_run(config, WorldInfo::from_environment(), nullptr);
  std::unique_ptr<LanguageModel> model = make_model(config, *backend, rows, seq_len);
  load_model_weights(checkpoint, request.checkpoint, *model, *backend);

  InspectBlocksResult result;
  result.step = checkpoint.meta.step;
  ObservingModel observing(*model, result.stats);
  result.eval = evaluate(observing, data.val_tokens, data.luts, EvalOptions{});
  DG_CHECK(!result.stats.empty(), "inspect --blocks: the model of " << request.checkpoint.string()
                                                                    << " has blocks in its config but reported no "
                                                                       "block observations");

  const fs::path parent = request.checkpoint.parent_path();
  result.out_dir = !request.out_dir.empty() ? request.out_dir : (parent.empty() ? fs::path("blocks") : parent / "blocks");
  result.heatmaps = write_block_heatmaps(result.stats, result.out_dir);
  const nlohmann::ordered_json stats = result.stats.to_json(heatmaps_by_block(result.heatmaps));
  nlohmann::ordered_json report;
  report["format"] = stats["format"];
  report["checkpoint"] = request.checkpoint.string();
  report["step"] = result.step;
  report["val_tokens"] = result.eval.tokens;
  report["val_loss"] = result.eval.val_loss;
  report["val_bpb"] = result.eval.val_bpb;
  report["forwards"] = stats["forwards"];
  report["blocks"] = stats["blocks"];
  result.json_file = result.out_dir / "blocks.json";
  write_file_atomic(result.json_file, report.dump(2) + "\n");
  return result;
}

std::string inspect_blocks_report(const InspectBlocksResult& result) {
  std::ostringstream out;
  out << "blocks over " << result.eval.tokens << " validation tokens (" << result.stats.forwards()
      << " forwards, step " << result.step << ", val_loss " << fixed(result.eval.val_loss, 4) << ", val_bpb "
      << fixed(result.eval.val_bpb, 4) << ")\n";
  out << result.stats.summary_text();
  out << "wrote " << result.json_file.string() << " and " << result.heatmaps.size() << " heatmaps in "
      << result.out_dir.string() << "\n";
  return out.str();
}

}  // namespace dg
