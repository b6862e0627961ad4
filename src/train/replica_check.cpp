#include "train/replica_check.h"

#include <iomanip>
#include <sstream>
#include <vector>

#include "core/checksum.h"

namespace dg {
namespace {

uint32_t tensor_crc(Backend& backend, const Tensor& t) {
  std::vector<char> host(static_cast<size_t>(t.bytes()));
  backend.copy_to_host(host.data(), t);
  return crc32_update(0, host.data(), host.size());
}

std::string hex(uint32_t v) {
  std::ostringstream out;
  out << std::hex << std::setw(8) << std::setfill('0') << v;
  return out.str();
}

// "matrix_lr: 0.05 here, 0.04 on rank 0" for every compared setting that differs.
std::string settings_difference(const std::string& theirs, const std::string& rank0s) {
  const nlohmann::json a = nlohmann::json::parse(theirs), b = nlohmann::json::parse(rank0s);
  std::string out;
  for (const auto& [key, value] : b.items()) {
    const std::string mine = a.contains(key) ? a.at(key).dump() : "(missing)";
    if (mine != value.dump()) out += (out.empty() ? "" : ", ") + key + " is " + mine + " there, " + value.dump() + " on rank 0";
  }
  return out.empty() ? "their settings hold other keys" : out;
}

}  // namespace

bool setting_may_differ_between_ranks(const std::string& key) {
  return key == "data_path" || key == "tokenizer_path" || key == "threads";
}

void check_replicas_identical(dist::Rendezvous& rendezvous, const Config& config, LanguageModel& model,
                              Backend& backend, const Optimizer& optimizer, const TrainState& state) {
  nlohmann::json settings = nlohmann::json::object();
  for (const auto& [key, value] : config.values().items())
    if (!setting_may_differ_between_ranks(key)) settings[key] = value;
  rendezvous.check_same_on_all_ranks("settings", settings.dump(), "settings", settings_difference);

  // The starting point: step, loader position and random generators, then the tensors' checksums.
  std::string start = "step " + std::to_string(state.progress.step) + ", train state CRC-32 " +
                      hex(crc32_of(train_state_to_json(state).dump())) + ", weights CRC-32 " +
                      hex(tensor_crc(backend, model.params()));
  for (const Optimizer::StateBuffer& buffer : optimizer.state_buffers())
    start += ", " + std::string(buffer.name) + " CRC-32 " + hex(tensor_crc(backend, buffer.tensor));
  rendezvous.check_same_on_all_ranks("start", start, "starting state (weights, optimizer and data position)");
}

}  // namespace dg
