// A run's settings: one flat JSON object whose keys are the challenge's hyperparameter names in
// lower case (iterations, train_seq_len, model_dim, matrix_lr, ...), so that every key K can also
// be set by the environment variable upper(K) exactly as train_gpt.py reads it (ITERATIONS=200).
// Layers, lowest first: defaults (the preset) < --config FILE.json < environment < --set key=value.
// The defaults define which keys exist and their types; anything else is an error that lists the
// valid keys.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace dg {

class Config {
 public:
  explicit Config(nlohmann::json defaults, std::string defaults_name = "defaults");

  // Keys of a JSON object file; each must already exist; values are checked against its type.
  void merge_file(const std::filesystem::path& path);
  void merge_json(const nlohmann::json& object, const std::string& origin);
  // For every key K, reads environment variable upper(K) when it is set. `getenv` is injectable for tests.
  void merge_environment(const std::function<const char*(const char*)>& getenv_fn);
  // "key=value": value is parsed by the key's type (bools accept 1/0/true/false; arrays and
  // objects take JSON text).
  void set(std::string_view assignment, const std::string& origin = "--set");
  void set_value(const std::string& key, const nlohmann::json& value, const std::string& origin);

  bool has(const std::string& key) const { return values_.contains(key); }
  const nlohmann::json& at(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::string get_string(const std::string& key) const;

  const nlohmann::json& values() const { return values_; }
  // Where each key's value came from: "defaults"/preset name, a file path, "env VAR" or "--set".
  const std::map<std::string, std::string>& origins() const { return origins_; }

 private:
  nlohmann::json coerce(const std::string& key, const nlohmann::json& value, const std::string& origin) const;
  nlohmann::json parse_text(const std::string& key, const std::string& text, const std::string& origin) const;
  [[noreturn]] void unknown_key(const std::string& key, const std::string& origin) const;

  nlohmann::json values_;
  std::map<std::string, std::string> origins_;
};

std::string env_name_for(const std::string& key);

}  // namespace dg
