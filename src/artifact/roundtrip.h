// The artifact round trip: pack the trained weights, read the artifact back from disk, load its
// dequantized weights into the model and score them exactly as train_gpt.py's final eval, with its
// log lines ("final_int8_zlib_roundtrip_exact val_loss:... val_bpb:...") and the size lines.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "artifact/artifact.h"
#include "artifact/code_archive.h"
#include "artifact/size_accounting.h"
#include "backend/backend.h"
#include "core/config.h"
#include "core/log.h"
#include "model/language_model.h"
#include "train/evaluate.h"
#include "train/run_context.h"

namespace dg::artifact {

struct RoundTripScore {
  EvalResult result;
  double eval_ms = 0.0;
};

// Points the model at its own parameters, loads the artifact's weights and scores them.
RoundTripScore score_artifact(const Artifact& artifact, const std::filesystem::path& path, LanguageModel& model,
                              Backend& backend, const EvalData& data, const EvalOptions& options);

// "final_int8_zlib_roundtrip val_loss:%.4f val_bpb:%.4f eval_time:%.0fms" (prefix from ArtifactSettings),
// plus partial_note(data) when val_max_tokens cut the split.
std::string roundtrip_line(const std::string& metric_prefix, const RoundTripScore& score, const EvalData& data);
// "final_int8_zlib_roundtrip_exact val_loss:%.8f val_bpb:%.8f" (exact_score_line: "_partial" and the
// scored count when val_max_tokens cut the split).
std::string roundtrip_exact_line(const std::string& metric_prefix, const RoundTripScore& score, const EvalData& data);
// "quantization_gap val_bpb:<pre> -> <artifact> (+gap) val_loss:<pre> -> <artifact> (+gap)"
std::string quantization_gap_line(double pre_val_loss, double pre_val_bpb, const EvalResult& artifact);

// The code archive of the tree this binary was built from; counted = false (with the reason in
// `problem`) when that tree or its build's link map is not there.
struct CodeSize {
  bool counted = false;
  CodeArchive archive;
  std::string problem;
};
CodeSize measure_code(const std::filesystem::path& source_root, const std::filesystem::path& build_dir);

struct FinalArtifactReport {
  std::filesystem::path artifact_path;
  SubmissionSize size;
  bool code_counted = false;
  RoundTripScore score;
};

// The end of `dartgolf train`: packs the model's weights to out_dir/final_model.int8.zlib (name by
// quantizer, width and codec; with artifact_quantizer=gptq after calibrating on the training
// shards, its time logged), logs train_gpt.py's size lines, reloads the file, scores the round trip, logs
// its lines and the quantization gap against the pre-quant validation, and writes an "artifact"
// record to the metrics file. A total over the cap is logged as a warning (training is not lost).
FinalArtifactReport finish_with_artifact(LanguageModel& model, Backend& backend, const Config& config,
                                         const nlohmann::json& meta, const std::filesystem::path& out_dir,
                                         const std::filesystem::path& checkpoint, const EvalData& data,
                                         const EvalOptions& options, double pre_val_loss, double pre_val_bpb,
                                         Logger& log, MetricsWriter& metrics);

}  // namespace dg::artifact
