#include "train/train_checkpoint.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdio>
#include <map>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "train/model_io.h"

namespace dg {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
constexpr const char* kTrainStateKey = "train_state";
constexpr int kTrainStateVersion = 1;

// 64-bit words as hex text: JSON readers in other languages round large integers through doubles.
std::string hex64(uint64_t v) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(v));
  return text;
}
uint64_t parse_hex64(const json& j, const char* what, const fs::path& path) {
  DG_CHECK(j.is_string() && j.get<std::string>().size() == 16 &&
               j.get<std::string>().find_first_not_of("0123456789abcdefABCDEF") == std::string::npos,
           path.string() << ": train_state " << what << " is not a 16-digit hex word");
  return std::stoull(j.get<std::string>(), nullptr, 16);
}

json rng_to_json(const RngState& s) {
  json words = json::array();
  for (uint64_t w : s.words) words.push_back(hex64(w));
  // The spare normal as its bits, so it comes back exactly.
  return {{"words", words}, {"has_spare", s.has_spare}, {"spare_bits", hex64(std::bit_cast<uint64_t>(s.spare))}};
}
RngState rng_from_json(const json& j, const fs::path& path) {
  DG_CHECK(j.is_object() && j.contains("words") && j["words"].is_array() && j["words"].size() == 4,
           path.string() << ": train_state holds a random generator without its 4 words");
  RngState s;
  for (int i = 0; i < 4; ++i) s.words[i] = parse_hex64(j["words"][static_cast<size_t>(i)], "rng word", path);
  s.has_spare = j.value("has_spare", false);
  s.spare = std::bit_cast<double>(parse_hex64(j.at("spare_bits"), "rng spare", path));
  return s;
}

const json& field(const json& j, const char* key, const fs::path& path) {
  DG_CHECK(j.is_object() && j.contains(key), path.string() << ": train_state has no \"" << key << "\"");
  return j[key];
}
}  // namespace

json train_state_to_json(const TrainState& s) {
  json j{{"version", kTrainStateVersion},
         {"step", s.progress.step},
         {"training_time_ms", s.progress.training_time_ms},
         {"stop_after_step", s.progress.stop_after_step},
         {"skipped_in_a_row", s.progress.skipped_in_a_row},
         {"loader", {{"file_index", s.loader.file_index}, {"position", s.loader.position}, {"shards", s.loader_shards}}},
         {"optimizer_steps", s.optimizer_steps},
         {"qat", {{"started", s.qat.started}, {"noise_rng", rng_to_json(s.qat.noise)}}},
         {"run_id", s.run_id},
         {"preset", s.preset}};
  if (s.model_rng) j["model_rng"] = rng_to_json(*s.model_rng);
  return j;
}

TrainState train_state_from_json(const json& j, const fs::path& path) {
  DG_CHECK(field(j, "version", path) == kTrainStateVersion,
           path.string() << ": train_state version " << j["version"].dump() << " is not " << kTrainStateVersion
                         << " (written by another dartgolf version)");
  try {
    TrainState s;
    s.progress.step = field(j, "step", path).get<int64_t>();
    s.progress.training_time_ms = field(j, "training_time_ms", path).get<double>();
    s.progress.stop_after_step = field(j, "stop_after_step", path).get<int64_t>();
    s.progress.skipped_in_a_row = field(j, "skipped_in_a_row", path).get<int64_t>();
    const json& loader = field(j, "loader", path);
    s.loader.file_index = field(loader, "file_index", path).get<int64_t>();
    s.loader.position = field(loader, "position", path).get<int64_t>();
    s.loader_shards = field(loader, "shards", path).get<int64_t>();
    s.optimizer_steps = field(j, "optimizer_steps", path).get<int64_t>();
    const json& qat = field(j, "qat", path);
    s.qat.started = field(qat, "started", path).get<bool>();
    s.qat.noise = rng_from_json(field(qat, "noise_rng", path), path);
    if (j.contains("model_rng")) s.model_rng = rng_from_json(j["model_rng"], path);
    s.run_id = field(j, "run_id", path).get<std::string>();
    s.preset = field(j, "preset", path).get<std::string>();
    DG_CHECK(s.progress.step >= 0 && s.optimizer_steps >= 0 && s.optimizer_steps <= s.progress.step,
             path.string() << ": train_state step counts are inconsistent");
    return s;
  } catch (const json::exception& e) {
    DG_THROW(path.string() << ": train_state is malformed: " << json_error_text(e.what()));
  }
}

std::string train_checkpoint_name(int64_t step) {
  char name[64];
  std::snprintf(name, sizeof name, "checkpoint_step%06lld.safetensors", static_cast<long long>(step));
  return name;
}

int64_t train_checkpoint_step(const std::string& file_name) {
  const std::string prefix = "checkpoint_step", suffix = ".safetensors";
  if (file_name.size() <= prefix.size() + suffix.size() || file_name.rfind(prefix, 0) != 0 ||
      !file_name.ends_with(suffix))
    return -1;
  const std::string digits = file_name.substr(prefix.size(), file_name.size() - prefix.size() - suffix.size());
  if (digits.empty() || digits.size() > 15 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(digits);
}

void save_train_checkpoint(const fs::path& path, LanguageModel& model, Backend& backend, const Optimizer& optimizer,
                           const Config& config, const TrainState& state) {
  const ParamLayout& layout = model.layout();
  const auto buffers = optimizer.state_buffers();
  const auto n = static_cast<size_t>(layout.buffer_elements());
  std::vector<float> host(n * (1 + buffers.size()));
  backend.copy_to_host(host.data(), model.params());
  std::vector<CheckpointTensor> tensors;
  for (const ParamSpec& spec : layout.specs())
    tensors.push_back(CheckpointTensor{spec.name, spec.shape, host.data() + spec.offset});
  for (size_t i = 0; i < buffers.size(); ++i) {
    float* slot = host.data() + n * (i + 1);
    backend.copy_to_host(slot, buffers[i].tensor);
    tensors.push_back(CheckpointTensor{buffers[i].name, {static_cast<int64_t>(n)}, slot});
  }
  CheckpointMeta meta;
  meta.config = config.values();
  meta.step = state.progress.step;
  meta.extra[kTrainStateKey] = train_state_to_json(state).dump();
  save_checkpoint(path, tensors, meta);
}

ResumePoint find_resume_point(const fs::path& run_dir, const std::function<void(const std::string&)>& note) {
  std::error_code ec;
  DG_CHECK(fs::is_directory(run_dir, ec), "--resume " << run_dir.string() << ": no such run folder");
  DG_CHECK(!fs::exists(run_dir / "final_model.safetensors", ec),
           "--resume " << run_dir.string() << ": this run finished (final_model.safetensors is there); nothing to "
                       << "resume. Start a new run with another --out, or --overwrite");
  std::vector<std::pair<int64_t, fs::path>> candidates;
  for (fs::directory_iterator it(run_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const int64_t step = train_checkpoint_step(it->path().filename().string());
    if (step >= 0) candidates.emplace_back(step, it->path());
  }
  std::sort(candidates.rbegin(), candidates.rend());
  DG_CHECK(!candidates.empty(), "--resume " << run_dir.string()
                                            << ": no checkpoint_step*.safetensors to continue from (a run writes one "
                                               "every checkpoint_every steps or checkpoint_every_seconds, and when "
                                               "stopped by SIGINT/SIGTERM)");
  std::string failures;
  for (const auto& [step, path] : candidates) {
    try {
      const auto t0 = std::chrono::steady_clock::now();
      ResumePoint point;
      point.path = path;
      point.checkpoint = load_checkpoint(path);
      const auto found = point.checkpoint.meta.extra.find(kTrainStateKey);
      DG_CHECK(found != point.checkpoint.meta.extra.end(),
               path.string() << ": holds weights only (no train_state), written by an older dartgolf");
      const json state = json::parse(found->second, nullptr, false);
      DG_CHECK(!state.is_discarded(), path.string() << ": train_state is not valid JSON");
      point.state = train_state_from_json(state, path);
      point.load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      return point;
    } catch (const Error& e) {
      note(std::string("resume: skipping ") + e.what());
      failures += std::string("\n  ") + e.what();
    }
  }
  DG_THROW("--resume " << run_dir.string() << ": no checkpoint can be resumed:" << failures);
}

void restore_weights_and_optimizer(const ResumePoint& point, LanguageModel& model, Backend& backend,
                                   Optimizer& optimizer) {
  load_model_weights(point.checkpoint, point.path, model, backend);
  const auto n = model.layout().buffer_elements();
  for (const Optimizer::StateBuffer& buffer : optimizer.state_buffers()) {
    const auto found = point.checkpoint.tensors.find(buffer.name);
    DG_CHECK(found != point.checkpoint.tensors.end(), point.path.string() << ": no " << buffer.name << " tensor");
    DG_CHECK(found->second.first == std::vector<int64_t>{n},
             point.path.string() << ": " << buffer.name << " has shape " << format_shape(found->second.first)
                                 << ", the optimizer needs [" << n << "]");
    backend.copy_from_host(buffer.tensor, found->second.second.data());
  }
  optimizer.set_steps_taken(point.state.optimizer_steps);
}

void prune_train_checkpoints(const fs::path& run_dir, int64_t keep) {
  if (keep <= 0) return;
  std::vector<std::pair<int64_t, fs::path>> found;
  std::error_code ec;
  for (fs::directory_iterator it(run_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const int64_t step = train_checkpoint_step(it->path().filename().string());
    if (step >= 0) found.emplace_back(step, it->path());
  }
  std::sort(found.rbegin(), found.rend());
  for (size_t i = static_cast<size_t>(keep); i < found.size(); ++i) fs::remove(found[i].second, ec);
}

}  // namespace dg
