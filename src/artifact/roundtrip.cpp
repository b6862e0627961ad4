#include "artifact/roundtrip.h"

#include <chrono>
#include <vector>

#include "artifact/model_artifact.h"
#include "core/error.h"
#include "train/gptq_calibration.h"

namespace dg::artifact {
namespace fs = std::filesystem;

RoundTripScore score_artifact(const Artifact& artifact, const fs::path& path, LanguageModel& model, Backend& backend,
                              const EvalData& data, const EvalOptions& options) {
  model.set_forward_weights(Tensor{});
  load_artifact_weights(artifact, path, model, backend);
  RoundTripScore score;
  const auto t0 = std::chrono::steady_clock::now();
  score.result = evaluate(model, data.val_tokens, data.luts, options);
  backend.synchronize();
  score.eval_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return score;
}

std::string roundtrip_line(const std::string& metric_prefix, const RoundTripScore& score, const EvalData& data) {
  std::string line = "final_" + metric_prefix;
  line += "_roundtrip val_loss:" + fixed(score.result.val_loss, 4) + " val_bpb:" + fixed(score.result.val_bpb, 4);
  line += " eval_time:" + fixed(score.eval_ms, 0) + "ms" + partial_note(data);
  return line;
}

std::string roundtrip_exact_line(const std::string& metric_prefix, const RoundTripScore& score, const EvalData& data) {
  return exact_score_line("final_" + metric_prefix + "_roundtrip", score.result.val_loss, score.result.val_bpb, data);
}

std::string quantization_gap_line(double pre_val_loss, double pre_val_bpb, const EvalResult& artifact) {
  auto signed_text = [](double v) { return std::string(v >= 0 ? "+" : "") + fixed(v, 8); };
  return "quantization_gap val_bpb:" + fixed(pre_val_bpb, 8) + " -> " + fixed(artifact.val_bpb, 8) + " (" +
         signed_text(artifact.val_bpb - pre_val_bpb) + ") val_loss:" + fixed(pre_val_loss, 8) + " -> " +
         fixed(artifact.val_loss, 8) + " (" + signed_text(artifact.val_loss - pre_val_loss) + ")";
}

CodeSize measure_code(const fs::path& source_root, const fs::path& build_dir) {
  CodeSize size;
  try {
    size.archive = build_code_archive(source_root, build_dir);
    size.counted = true;
  } catch (const Error& e) {
    size.problem = e.what();
  }
  return size;
}

FinalArtifactReport finish_with_artifact(LanguageModel& model, Backend& backend, const Config& config,
                                         const nlohmann::json& meta, const fs::path& out_dir, const fs::path& checkpoint,
                                         const EvalData& data, const EvalOptions& options, double pre_val_loss,
                                         double pre_val_bpb, Logger& log, MetricsWriter& metrics) {
  FinalArtifactReport report;
  std::vector<float> host(static_cast<size_t>(model.layout().buffer_elements()));
  backend.copy_to_host(host.data(), model.params());
  const ArtifactSettings requested = ArtifactSettings::from_config(config);
  GptqCalibration calibration;
  if (requested.policy.quantizer == quant::Quantizer::Gptq) {
    calibration = calibrate_gptq(config, host.data(), config.get_string("data_path"));
    log.log(calibration.log_line());
  }
  const PackedArtifact packed = pack_parameters(model.layout(), host.data(), config, meta, &calibration.hessians);
  const ArtifactSettings settings = requested.as_written(packed.sizes);
  report.artifact_path = out_dir / settings.default_file_name();
  write_artifact(report.artifact_path, packed.bytes);

  const CodeSize code = measure_code(default_source_root(), default_build_dir());
  report.code_counted = code.counted;
  report.size.artifact_bytes = packed.sizes.file_bytes;
  report.size.code_bytes = code.archive.size();
  if (code.counted) {
    log.log(code_size_line(code.archive));
    std::error_code ec;
    const auto checkpoint_bytes = fs::file_size(checkpoint, ec);
    if (!ec)
      log.log("Total submission size: " + std::to_string(static_cast<int64_t>(checkpoint_bytes) + code.archive.size()) +
              " bytes");
  } else {
    log.log("Code size: not counted (" + code.problem + ")");
  }
  log.log(serialized_line(settings, packed) + " (" + report.artifact_path.string() + ")");
  if (code.counted) {
    log.log("Total submission size " + settings.scheme() + ": " + std::to_string(report.size.total()) + " bytes");
    if (report.size.over_cap())
      log.log("WARNING: total submission size " + std::to_string(report.size.total()) + " bytes is over the cap of " +
              std::to_string(kSubmissionCapBytes) + " bytes");
  }

  // Score what is on disk, as train_gpt.py does, not the in-memory copy.
  const Artifact artifact = read_artifact(report.artifact_path);
  report.score = score_artifact(artifact, report.artifact_path, model, backend, data, options);
  log.log(roundtrip_line(settings.metric_prefix(), report.score, data));
  log.log(roundtrip_exact_line(settings.metric_prefix(), report.score, data));
  log.log(quantization_gap_line(pre_val_loss, pre_val_bpb, report.score.result));
  nlohmann::json record{{"event", "artifact"},
                        {"artifact", report.artifact_path.string()},
                        {"scheme", settings.scheme()},
                        {"artifact_bytes", report.size.artifact_bytes},
                        {"payload_bytes", packed.sizes.payload_bytes},
                        {"raw_bytes", packed.sizes.raw_bytes},
                        {"val_loss", report.score.result.val_loss},
                        {"val_bpb", report.score.result.val_bpb},
                        {"pre_quant_val_loss", pre_val_loss},
                        {"pre_quant_val_bpb", pre_val_bpb},
                        {"eval_time_ms", report.score.eval_ms}};
  if (requested.policy.quantizer == quant::Quantizer::Gptq) record["gptq_calibration_ms"] = calibration.elapsed_ms;
  if (code.counted) {
    record["code_bytes"] = code.archive.size();
    record["bytes_total"] = report.size.total();
  }
  metrics.write(record);
  return report;
}

}  // namespace dg::artifact
