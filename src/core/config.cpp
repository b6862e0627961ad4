#include "core/config.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/error.h"
#include "core/fs.h"

namespace dg {
using nlohmann::json;

namespace {
std::string type_name(const json& v) {
  if (v.is_boolean()) return "bool";
  if (v.is_number_integer()) return "integer";
  if (v.is_number()) return "number";
  if (v.is_string()) return "string";
  if (v.is_array()) return "list";
  if (v.is_object()) return "object";
  return "null";
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}
}  // namespace

std::string env_name_for(const std::string& key) {
  std::string name = key;
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

Config::Config(json defaults, std::string defaults_name) : values_(std::move(defaults)) {
  DG_CHECK(values_.is_object(), "config defaults must be a JSON object");
  for (auto& [key, value] : values_.items()) origins_[key] = defaults_name;
}

const json& Config::at(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) unknown_key(key, "lookup");
  return *it;
}

int64_t Config::get_int(const std::string& key) const { return at(key).get<int64_t>(); }
double Config::get_double(const std::string& key) const { return at(key).get<double>(); }
bool Config::get_bool(const std::string& key) const { return at(key).get<bool>(); }
std::string Config::get_string(const std::string& key) const { return at(key).get<std::string>(); }

void Config::unknown_key(const std::string& key, const std::string& origin) const {
  std::string nearest;
  size_t best = std::string::npos;
  std::string listing;
  for (auto& [k, v] : values_.items()) {
    listing += (listing.empty() ? "" : ", ") + k;
    const size_t d = edit_distance(key, k);
    if (d < best) best = d, nearest = k;
  }
  std::string hint = (best <= 3) ? " (did you mean '" + nearest + "'?)" : "";
  DG_THROW(origin << ": unknown setting '" << key << "'" << hint << "; valid settings: " << listing);
}

json Config::coerce(const std::string& key, const json& value, const std::string& origin) const {
  const json& current = at(key);
  const auto bad = [&]() {
    DG_THROW(origin << ": setting '" << key << "' expects " << type_name(current) << ", got "
                    << type_name(value) << " " << value.dump());
  };
  if (current.is_boolean()) {
    if (value.is_boolean()) return value;
    if (value.is_number_integer() && (value.get<int64_t>() == 0 || value.get<int64_t>() == 1))
      return value.get<int64_t>() == 1;
    bad();
  }
  if (current.is_number_integer()) {
    if (value.is_number_integer()) return value;
    if (value.is_number_float()) {
      const double d = value.get<double>();
      if (std::isfinite(d) && d == std::floor(d)) return static_cast<int64_t>(d);
    }
    bad();
  }
  if (current.is_number()) {
    if (value.is_number()) return value.get<double>();
    bad();
  }
  if (current.is_null() || type_name(current) == type_name(value)) return value;
  bad();
  return value;  // unreachable
}

json Config::parse_text(const std::string& key, const std::string& text, const std::string& origin) const {
  const json& current = at(key);
  if (current.is_string()) return text;
  if (current.is_boolean()) {
    std::string lower = text;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "1" || lower == "true" || lower == "yes" || lower == "on") return true;
    if (lower == "0" || lower == "false" || lower == "no" || lower == "off") return false;
    DG_THROW(origin << ": setting '" << key << "' expects a bool (1/0/true/false), got '" << text << "'");
  }
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  DG_CHECK(!parsed.is_discarded(),
           origin << ": setting '" << key << "' expects " << type_name(current) << ", got '" << text << "'");
  return parsed;
}

void Config::set_value(const std::string& key, const json& value, const std::string& origin) {
  if (!values_.contains(key)) unknown_key(key, origin);
  values_[key] = coerce(key, value, origin);
  origins_[key] = origin;
}

void Config::merge_json(const json& object, const std::string& origin) {
  DG_CHECK(object.is_object(), origin << ": expected a JSON object of settings, got " << type_name(object));
  for (auto& [key, value] : object.items()) set_value(key, value, origin);
}

void Config::merge_file(const std::filesystem::path& path) {
  const std::string text = read_file_bytes(path);
  json parsed;
  try {
    parsed = json::parse(text);
  } catch (const json::parse_error& e) {
    DG_THROW(path.string() << ": not valid JSON: " << e.what());
  }
  merge_json(parsed, path.string());
}

void Config::merge_environment(const std::function<const char*(const char*)>& getenv_fn) {
  std::vector<std::string> keys;
  for (auto& [key, value] : values_.items()) keys.push_back(key);
  for (const std::string& key : keys) {
    const std::string var = env_name_for(key);
    const char* text = getenv_fn(var.c_str());
    if (text == nullptr) continue;
    const std::string origin = "environment variable " + var;
    set_value(key, parse_text(key, text, origin), origin);
  }
}

void Config::set(std::string_view assignment, const std::string& origin) {
  const size_t eq = assignment.find('=');
  DG_CHECK(eq != std::string_view::npos && eq > 0,
           origin << " " << assignment << ": expected key=value");
  const std::string key(assignment.substr(0, eq));
  const std::string text(assignment.substr(eq + 1));
  if (!values_.contains(key)) unknown_key(key, origin + " " + std::string(assignment));
  set_value(key, parse_text(key, text, origin + " " + key), origin);
}

}  // namespace dg
