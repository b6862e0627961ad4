// `dartgolf pack --submission DIR`: a folder in the challenge's records format
// (records/track_10min_16mb/<date>_<name>/): README.md, submission.json and the train log, plus
// the two files whose bytes are counted: the artifact and the code archive (code.tar.*).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "artifact/code_archive.h"

namespace dg::artifact {

struct SubmissionInfo {
  // submission.json, in the challenge's field order
  std::string author, github_id, name, blurb, date;
  double val_loss = 0.0, val_bpb = 0.0;  // the artifact round trip (the challenge's score)
  int64_t bytes_total = 0, bytes_code = 0;
  // README only
  int64_t bytes_artifact = 0;
  std::string scheme;        // "int8+zlib"
  std::string quantization;  // "int8", "gptq int6 emb8 sdclip12.85"
  double gptq_calibration_ms = -1.0;  // negative: no GPTQ
  double pre_quant_val_loss = -1.0, pre_quant_val_bpb = -1.0;  // negative: not recorded
  nlohmann::json config = nlohmann::json::object();
  std::string preset;
  int64_t parameter_count = 0, steps = 0, train_tokens = -1;  // train_tokens < 0: not recorded
  std::string hardware;
  std::filesystem::path artifact_path;  // copied into DIR unless it is there already
  CodeArchive code_archive;             // written to DIR/<its file name>
  std::filesystem::path train_log;      // copied to DIR/train.log
};

// Current UTC time as "2026-03-18T14:56:29Z", the challenge's date format.
std::string utc_now_iso8601();

// The challenge's submission.json object: author, github_id, name, blurb, date (strings),
// val_loss, val_bpb (numbers, 8 decimals), bytes_total, bytes_code (integers), in that order.
nlohmann::ordered_json submission_json(const SubmissionInfo& info);
std::string submission_readme(const SubmissionInfo& info);
// Writes DIR/README.md, DIR/submission.json, DIR/train.log (a copy of info.train_log), the code
// archive, and a copy of the artifact when it was written elsewhere.
void write_submission(const std::filesystem::path& dir, const SubmissionInfo& info);

}  // namespace dg::artifact
