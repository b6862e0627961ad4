#include "artifact/pack_checkpoint.h"

#include <algorithm>
#include <memory>

#include "artifact/code_archive.h"
#include "artifact/model_artifact.h"
#include "artifact/size_plan.h"
#include "artifact/roundtrip.h"
#include "artifact/size_accounting.h"
#include "artifact/submission.h"
#include "backend/backend.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "model/model_factory.h"
#include "model/settings.h"
#include "train/checkpoint.h"
#include "train/gptq_calibration.h"
#include "train/model_io.h"
#include "train/run_context.h"

namespace dg::artifact {
namespace fs = std::filesystem;

namespace {

std::string extra_or(const LoadedCheckpoint& checkpoint, const std::string& key, const std::string& fallback) {
  const auto it = checkpoint.meta.extra.find(key);
  return it == checkpoint.meta.extra.end() ? fallback : it->second;
}

double extra_number(const LoadedCheckpoint& checkpoint, const std::string& key, double fallback) {
  const std::string text = extra_or(checkpoint, key, "");
  if (text.empty()) return fallback;
  try {
    return std::stod(text);
  } catch (const std::exception&) {
    return fallback;
  }
}

std::string default_name(const Config& c) {
  return "dartgolf " + c.get_string("model") + " " + std::to_string(c.get_int("num_layers")) + "x" +
         std::to_string(c.get_int("model_dim")) + " KV" + std::to_string(c.get_int("num_kv_heads"));
}

std::string default_blurb(const Config& c, const ArtifactSettings& s, int64_t steps, int64_t params) {
  return "dartgolf `" + c.get_string("model") + "` model, " + std::to_string(c.get_int("num_layers")) + " layers x " +
         std::to_string(c.get_int("model_dim")) + " (" + std::to_string(c.get_int("num_heads")) + " heads, " +
         std::to_string(c.get_int("num_kv_heads")) + " KV heads), " + std::to_string(params) + " parameters, " +
         std::to_string(steps) + " steps; score is the " + s.scheme() +
         " artifact round trip val_bpb under the 16,000,000-byte cap.";
}

}  // namespace

namespace {
fs::path source_root_or_default(const fs::path& root) { return root.empty() ? default_source_root() : root; }
fs::path build_dir_or_default(const fs::path& dir) { return dir.empty() ? default_build_dir() : dir; }
}  // namespace

std::vector<std::string> code_file_listing(const fs::path& source_root, const fs::path& build_dir) {
  const fs::path root = source_root_or_default(source_root);
  const std::vector<CodeArchive> archives = code_archives(root, code_closure(root, build_dir_or_default(build_dir)));
  const CodeArchive& counted = archives.front();
  std::vector<std::string> lines;
  for (const CodeFile& f : counted.files) lines.push_back(std::to_string(f.bytes) + "\t" + f.path);
  lines.push_back("source_bytes:" + std::to_string(counted.source_bytes) +
                  " without_comments:" + std::to_string(counted.archived_source_bytes) +
                  " files:" + std::to_string(counted.files.size()) +
                  " tar_bytes:" + std::to_string(counted.tar_bytes) + " root:" + root.string() +
                  " rule:" + code_closure_rule());
  for (const CodeArchive& a : archives) lines.push_back("archive " + a.file_name + ": " + std::to_string(a.size()) + " bytes");
  lines.push_back("code_bytes:" + std::to_string(counted.size()) + " (" + counted.file_name + ", the smallest)");
  return lines;
}

namespace {
void apply_overrides(const PackRequest& request, Config& config) {
  if (!request.codec.empty()) config.set_value("artifact_codec", request.codec, "--codec");
  if (request.bits != 0) config.set_value("artifact_bits", request.bits, "--bits");
  for (const std::string& a : request.assignments) config.set(a, "--set");
}
}  // namespace

std::vector<std::string> plan_listing(const PackRequest& request, const std::string& preset) {
  const fs::path root = source_root_or_default(request.source_root);
  PlanRequest plan;
  plan.code_bytes = build_code_archive(root, build_dir_or_default(request.build_dir)).size();
  std::vector<float> host;
  Config config(default_settings(), "defaults");
  if (!request.checkpoint.empty()) {
    const LoadedCheckpoint checkpoint = load_checkpoint(request.checkpoint);
    config = checkpoint_config(checkpoint, request.checkpoint);
    apply_overrides(request, config);
    host = checkpoint_to_flat(checkpoint, model_layout(config), request.checkpoint);
    plan.params = host.data();
    plan.source = "checkpoint " + request.checkpoint.string();
  } else {
    RunConfigSources sources;
    sources.preset = preset.empty() ? "gpt" : preset;
    config = resolve_run_config(sources);
    apply_overrides(request, config);
    plan.source = "preset " + sources.preset;
  }
  return plan_sizes(config, plan);
}

void run_pack(const PackRequest& request, const std::function<void(const std::string&)>& print) {
  DG_CHECK(!request.checkpoint.empty(), "pack: give --checkpoint FILE (a .safetensors written by dartgolf train)");
  const bool submission = !request.submission_dir.empty();
  DG_CHECK(!request.out.empty() || submission, "pack: give --out FILE for the artifact (or --submission DIR)");
  // The artifact must never replace what it is made from (pack --out X --checkpoint X once did).
  DG_CHECK(request.out.empty() || !same_file(request.out, request.checkpoint),
           "pack: --out " << request.out.string() << " is the checkpoint itself; writing the artifact there would "
                          << "destroy the checkpoint. Choose another --out (e.g. final_model.int8.zlib)");
  const fs::path train_log =
      request.train_log.empty() ? request.checkpoint.parent_path() / "train_log.txt" : request.train_log;
  if (submission) {
    DG_CHECK(!request.author.empty(), "pack --submission: give --author NAME (submission.json's \"author\")");
    DG_CHECK(!request.github_id.empty(), "pack --submission: give --github-id ID (submission.json's \"github_id\")");
    DG_CHECK(fs::is_regular_file(train_log), "pack --submission: no train log at " << train_log
                                                 << "; give the run's log with --train-log FILE");
  }

  const LoadedCheckpoint checkpoint = load_checkpoint(request.checkpoint);
  Config config = checkpoint_config(checkpoint, request.checkpoint);
  apply_overrides(request, config);
  const ArtifactSettings settings = ArtifactSettings::from_config(config);

  const ParamLayout layout = model_layout(config);
  const std::vector<float> host = checkpoint_to_flat(checkpoint, layout, request.checkpoint);

  const double pre_val_loss = extra_number(checkpoint, "val_loss", -1.0);
  const double pre_val_bpb = extra_number(checkpoint, "val_bpb", -1.0);
  const auto train_tokens = static_cast<int64_t>(extra_number(checkpoint, "train_tokens", -1.0));
  const std::string hardware = request.hardware.empty() ? extra_or(checkpoint, "hardware", "") : request.hardware;
  nlohmann::json meta{{"step", checkpoint.meta.step}, {"source_checkpoint", request.checkpoint.filename().string()}};
  if (train_tokens >= 0) meta["train_tokens"] = train_tokens;
  if (pre_val_bpb >= 0) {
    meta["val_loss"] = pre_val_loss;
    meta["val_bpb"] = pre_val_bpb;
  }
  if (!hardware.empty()) meta["hardware"] = hardware;
  GptqCalibration calibration;
  if (settings.policy.quantizer == quant::Quantizer::Gptq) {
    const fs::path data_path = request.data_dir.empty() ? fs::path(config.get_string("data_path")) : request.data_dir;
    apply_thread_setting(config);
    calibration = calibrate_gptq(config, host.data(), data_path);
    print(calibration.log_line());
  }
  const PackedArtifact packed = pack_parameters(layout, host.data(), config, meta, &calibration.hessians);
  const ArtifactSettings written = settings.as_written(packed.sizes);
  const fs::path out = !request.out.empty() ? request.out : request.submission_dir / written.default_file_name();

  const fs::path root = source_root_or_default(request.source_root);
  const CodeArchive code = build_code_archive(root, build_dir_or_default(request.build_dir));
  SubmissionSize size;
  size.artifact_bytes = packed.sizes.file_bytes;
  size.code_bytes = code.size();
  print(serialized_line(settings, packed));
  print(code_size_line(code));
  print("Total submission size " + written.scheme() + ": " + std::to_string(size.total()) + " bytes");
  enforce_size_cap(size, request.allow_oversize);
  if (size.over_cap())
    print("WARNING: over the cap of " + std::to_string(kSubmissionCapBytes) + " bytes by " +
          std::to_string(size.total() - kSubmissionCapBytes) + " (written anyway: --allow-oversize)");
  write_artifact(out, packed.bytes);
  print("artifact:" + out.string() + " scheme:" + written.scheme() + " quantization:" + settings.policy.describe() +
        " tensors:" + std::to_string(layout.specs().size()) + " params:" + std::to_string(packed.parameter_count) +
        (packed.gptq_tensors > 0 ? " gptq_tensors:" + std::to_string(packed.gptq_tensors) : ""));
  if (!submission) return;

  // Score what is on disk, then write the records folder. The submission's score covers the whole
  // validation split, whatever shortcut the training run took (val_max_tokens).
  const Artifact artifact = read_artifact(out);
  config.set_value("val_max_tokens", 0, "pack --submission scores the whole validation split");
  use_command_device(config, request.device);
  apply_thread_setting(config);
  const fs::path data_path = request.data_dir.empty() ? fs::path(config.get_string("data_path")) : request.data_dir;
  const fs::path tokenizer = request.tokenizer.empty() ? fs::path(config.get_string("tokenizer_path")) : request.tokenizer;
  const EvalData data = load_eval_data(config, data_path, tokenizer);
  const int64_t seq_len = config.get_int("train_seq_len");
  std::unique_ptr<Backend> backend = backend_for_run(config, WorldInfo::from_environment(), nullptr);
  print("device:" + backend->description());
  // Batch as training validated (train_batch_tokens / grad_accum_steps), like `eval`: matmul sums
  // depend on the batch shape in their last bits, and the score should equal the trainer's.
  std::unique_ptr<LanguageModel> model =
      make_model(config, *backend, eval_batch_rows(config, request.eval_batch_tokens), seq_len);
  const RoundTripScore score = score_artifact(artifact, out, *model, *backend, data, EvalOptions{});
  print(roundtrip_line(written.metric_prefix(), score, data));
  print(roundtrip_exact_line(written.metric_prefix(), score, data));
  if (pre_val_bpb >= 0) print(quantization_gap_line(pre_val_loss, pre_val_bpb, score.result));

  SubmissionInfo info;
  info.author = request.author;
  info.github_id = request.github_id;
  info.name = request.name.empty() ? default_name(config) : request.name;
  info.blurb = request.blurb.empty() ? default_blurb(config, written, checkpoint.meta.step, packed.parameter_count)
                                     : request.blurb;
  info.date = utc_now_iso8601();
  info.val_loss = score.result.val_loss;
  info.val_bpb = score.result.val_bpb;
  info.bytes_total = size.total();
  info.bytes_code = size.code_bytes;
  info.bytes_artifact = size.artifact_bytes;
  info.scheme = written.scheme();
  info.quantization = settings.policy.describe();
  if (settings.policy.quantizer == quant::Quantizer::Gptq) info.gptq_calibration_ms = calibration.elapsed_ms;
  info.pre_quant_val_loss = pre_val_loss;
  info.pre_quant_val_bpb = pre_val_bpb;
  info.config = config.values();
  info.parameter_count = packed.parameter_count;
  info.steps = checkpoint.meta.step;
  info.train_tokens = train_tokens;
  info.hardware = hardware;
  info.artifact_path = out;
  info.code_archive = code;
  info.train_log = train_log;
  write_submission(request.submission_dir, info);
  print("submission:" + request.submission_dir.string() + " (README.md, submission.json, train.log, " +
        out.filename().string() + ", " + code.file_name + ") val_bpb:" +
        fixed(score.result.val_bpb, 8) + " bytes_total:" + std::to_string(size.total()));
}

}  // namespace dg::artifact
