#include "artifact/submission.h"

#include <cmath>
#include <ctime>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"

namespace dg::artifact {
namespace fs = std::filesystem;

namespace {

// 8 decimals, as the challenge's _exact lines and its submission.json values.
double round8(double value) { return std::stod(fixed(value, 8)); }

std::string setting_text(const nlohmann::json& config, const char* key) {
  if (!config.contains(key)) return "(default)";
  const nlohmann::json& v = config.at(key);
  return v.is_string() ? v.get<std::string>() : v.dump();
}

}  // namespace

std::string utc_now_iso8601() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

nlohmann::ordered_json submission_json(const SubmissionInfo& info) {
  nlohmann::ordered_json j;
  j["author"] = info.author;
  j["github_id"] = info.github_id;
  j["name"] = info.name;
  j["blurb"] = info.blurb;
  j["date"] = info.date;
  j["val_loss"] = round8(info.val_loss);
  j["val_bpb"] = round8(info.val_bpb);
  j["bytes_total"] = info.bytes_total;
  j["bytes_code"] = info.bytes_code;
  return j;
}

std::string submission_readme(const SubmissionInfo& info) {
  const nlohmann::json& c = info.config;
  std::ostringstream md;
  md << "# " << info.name << "\n\n" << info.blurb << "\n\n";
  md << "Trained and packed with dartgolf (a C++ trainer for the Parameter Golf challenge); the score is the "
     << info.scheme << " artifact's round trip over the full validation split.\n\n";
  md << "## Result\n\n";
  md << "| metric | value |\n| --- | --- |\n";
  md << "| val_bpb (artifact round trip) | " << fixed(info.val_bpb, 8) << " |\n";
  md << "| val_loss (artifact round trip) | " << fixed(info.val_loss, 8) << " |\n";
  if (info.pre_quant_val_bpb >= 0) {
    md << "| val_bpb before quantization | " << fixed(info.pre_quant_val_bpb, 8) << " |\n";
    md << "| quantization gap (val_bpb) | " << (info.val_bpb >= info.pre_quant_val_bpb ? "+" : "")
       << fixed(info.val_bpb - info.pre_quant_val_bpb, 8) << " |\n";
  }
  md << "| artifact (" << info.scheme << ") | " << with_thousands(info.bytes_artifact) << " bytes |\n";
  md << "| code (`" << info.code_archive.file_name << "`) | " << with_thousands(info.bytes_code) << " bytes |\n";
  md << "| total | " << with_thousands(info.bytes_total) << " bytes (cap 16,000,000) |\n\n";

  md << "## Training\n\n";
  md << "- Model: `" << setting_text(c, "model") << "`" << (info.preset.empty() ? "" : ", preset `" + info.preset + "`")
     << ", " << with_thousands(info.parameter_count) << " parameters\n";
  md << "- Shape: `VOCAB_SIZE=" << setting_text(c, "vocab_size") << " NUM_LAYERS=" << setting_text(c, "num_layers")
     << " MODEL_DIM=" << setting_text(c, "model_dim") << " NUM_HEADS=" << setting_text(c, "num_heads")
     << " NUM_KV_HEADS=" << setting_text(c, "num_kv_heads") << " MLP_MULT=" << setting_text(c, "mlp_mult")
     << " TIE_EMBEDDINGS=" << setting_text(c, "tie_embeddings") << "`\n";
  md << "- Batching: `TRAIN_BATCH_TOKENS=" << setting_text(c, "train_batch_tokens")
     << " TRAIN_SEQ_LEN=" << setting_text(c, "train_seq_len") << "`\n";
  md << "- Steps: " << with_thousands(info.steps) << " (ITERATIONS=" << setting_text(c, "iterations")
     << ", MAX_WALLCLOCK_SECONDS=" << setting_text(c, "max_wallclock_seconds") << ")\n";
  md << "- Training tokens: " << (info.train_tokens >= 0 ? with_thousands(info.train_tokens) : "not recorded") << "\n";
  md << "- Hardware: " << (info.hardware.empty() ? "not recorded" : info.hardware) << "\n";
  md << "- QAT: scope `" << setting_text(c, "qat_scope") << "`, from fraction " << setting_text(c, "qat_start_fraction")
     << ", noise " << setting_text(c, "qat_noise") << "\n\n";

  const std::string artifact_file = info.artifact_path.filename().string();
  const CodeArchive& code = info.code_archive;
  md << "## Artifact and size accounting\n\n";
  md << "- Artifact: `" << artifact_file << "` (" << info.scheme << ", " << info.quantization
     << "; format: dartgolf docs/artifact-format.md)\n";
  if (info.gptq_calibration_ms >= 0)
    md << "- GPTQ calibration on training tokens: " << fixed(info.gptq_calibration_ms / 1000.0, 1)
       << " s (on the challenge it counts against the 600-second training budget)\n";
  md << "- Counted code: `" << code.file_name << "`, " << with_thousands(code.size()) << " bytes: "
     << code.files.size() << " files (" << with_thousands(code.source_bytes) << " bytes of source, archived without comments: "
     << with_thousands(code.archived_source_bytes) << "), "
     << code_closure_rule() << "\n";
  md << "- Rebuild and re-score from this folder alone (Debian packages: see dartgolf's scripts/setup.sh):\n\n";
  md << "  ```bash\n  mkdir code && tar -xf " << code.file_name;
  if (code.format == "zstd" || code.format == "brotli")
    md << " --use-compress-program=" << (code.format == "zstd" ? "zstd" : "brotli");
  md << " -C code\n  cmake -S code -B build -DDARTGOLF_CUDA=OFF && cmake --build build -j\n"
     << "  build/dartgolf_submission eval --artifact " << artifact_file
     << " --data DATA_DIR --tokenizer TOKENIZER.model\n  ```\n\n";
  md << "## Full configuration\n\n```json\n" << c.dump(2) << "\n```\n\n";
  md << "## Included files\n\n- `README.md` (this file)\n- `submission.json` (leaderboard metadata)\n"
     << "- `train.log` (the training log)\n- `" << artifact_file << "` (the artifact: counted)\n- `"
     << code.file_name << "` (the code archive: counted)\n";
  return md.str();
}

void write_submission(const fs::path& dir, const SubmissionInfo& info) {
  DG_CHECK(!info.train_log.empty() && fs::is_regular_file(info.train_log),
           "submission: train log " << info.train_log << " not found; give it with --train-log FILE");
  const std::string log = read_file_bytes(info.train_log);
  std::error_code ec;
  fs::create_directories(dir, ec);
  DG_CHECK(!ec, "submission: cannot create " << dir << ": " << ec.message());
  write_file_atomic(dir / "submission.json", submission_json(info).dump(2) + "\n");
  write_file_atomic(dir / "README.md", submission_readme(info));
  write_file_atomic(dir / "train.log", log);
  write_file_atomic(dir / info.code_archive.file_name, info.code_archive.bytes);
  const fs::path artifact_copy = dir / info.artifact_path.filename();
  if (!fs::exists(artifact_copy, ec) || !fs::equivalent(artifact_copy, info.artifact_path, ec))
    write_file_atomic(artifact_copy, read_file_bytes(info.artifact_path));
}

}  // namespace dg::artifact
