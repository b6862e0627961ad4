#include "core/config.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/error.h"
#include "core/fs.h"
#include "core/text.h"

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
  std::vector<std::string> keys;
  std::string listing;
  for (auto& [k, v] : values_.items()) {
    listing += (listing.empty() ? "" : ", ") + k;
    keys.push_back(k);
  }
  const std::string nearest = closest_match(key, keys);
  const std::string hint = nearest.empty() ? "" : " (did you mean '" + nearest + "'?)";
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
    // Integer settings are int64: larger values (1e20, 2^64−1) are refused, never wrapped around.
    const auto out_of_range = [&]() {
      DG_THROW(origin << ": setting '" << key << "' = " << value.dump() << " is out of the integer range ±"
                      << std::numeric_limits<int64_t>::max());
    };
    if (value.is_number_unsigned()) {
      if (value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) out_of_range();
      return value.get<int64_t>();
    }
    if (value.is_number_integer()) return value;
    if (value.is_number_float()) {
      const double d = value.get<double>();
      if (std::isfinite(d) && d == std::floor(d)) {
        // 2^63 is the first double outside int64; casting it or anything larger is undefined.
        if (std::abs(d) >= 9223372036854775808.0) out_of_range();
        return static_cast<int64_t>(d);
      }
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
  } catch (const json::exception& e) {  // parse errors and numbers out of range alike
    DG_THROW(path.string() << ": not valid JSON: " << json_error_text(e.what()));
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
