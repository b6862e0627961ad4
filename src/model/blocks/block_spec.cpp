#include "model/blocks/block_spec.h"

#include <array>
#include <cmath>
#include <functional>
#include <sstream>

#include "core/error.h"

namespace dg::blocks {
namespace {

using nlohmann::json;

// One option of a block type: its name and how to read it into a BlockSpec (throws on a bad value).
struct OptionDef {
  const char* name;
  std::function<void(BlockSpec&, const json&, const std::string& where)> read;
};

struct TypeDef {
  BlockType type;
  const char* name;
  std::vector<BlockSite> sites;
  std::vector<OptionDef> options;
};

constexpr std::array kAllSites{BlockSite::LoopInput, BlockSite::LoopOutput, BlockSite::AttnOutput, BlockSite::MlpInput,
                               BlockSite::BlockOutput};

int64_t read_int(const json& v, const std::string& where, int64_t min_value) {
  DG_CHECK(v.is_number_integer(), where << " must be an integer, got " << v.dump());
  const int64_t x = v.get<int64_t>();
  DG_CHECK(x >= min_value, where << "=" << x << " must be at least " << min_value);
  return x;
}

double read_double(const json& v, const std::string& where) {
  DG_CHECK(v.is_number(), where << " must be a number, got " << v.dump());
  const double x = v.get<double>();
  DG_CHECK(std::isfinite(x), where << " must be finite, got " << v.dump());
  return x;
}

bool read_bool(const json& v, const std::string& where) {
  DG_CHECK(v.is_boolean() || (v.is_number_integer() && (v == 0 || v == 1)),
           where << " must be true or false, got " << v.dump());
  return v.is_boolean() ? v.get<bool>() : v.get<int>() == 1;
}

const std::vector<TypeDef>& registry() {
  static const std::vector<TypeDef> types = {
      {BlockType::TauFusion,
       "tau_fusion",
       {BlockSite::LoopInput, BlockSite::LoopOutput},
       {{"hidden", [](BlockSpec& s, const json& v, const std::string& w) { s.hidden = read_int(v, w, 1); }},
        {"latent", [](BlockSpec& s, const json& v, const std::string& w) { s.latent = read_int(v, w, 0); }},
        {"init_logit", [](BlockSpec& s, const json& v, const std::string& w) { s.init_logit = read_double(v, w); }},
        {"skip_stream", [](BlockSpec& s, const json& v, const std::string& w) { s.skip_stream = read_bool(v, w); }}}},
      {BlockType::Daam,
       "daam",
       {BlockSite::AttnOutput, BlockSite::MlpInput, BlockSite::BlockOutput},
       {{"groups", [](BlockSpec& s, const json& v, const std::string& w) { s.groups = read_int(v, w, 1); }},
        {"gaussians", [](BlockSpec& s, const json& v, const std::string& w) { s.gaussians = read_int(v, w, 1); }},
        {"residual", [](BlockSpec& s, const json& v, const std::string& w) { s.residual = read_bool(v, w); }},
        {"eps",
         [](BlockSpec& s, const json& v, const std::string& w) {
           s.eps = read_double(v, w);
           DG_CHECK(s.eps > 0.0, w << "=" << s.eps << " must be positive");
         }},
        {"init_scale", [](BlockSpec& s, const json& v, const std::string& w) { s.init_scale = read_double(v, w); }},
        {"init_offset_std",
         [](BlockSpec& s, const json& v, const std::string& w) {
           s.init_offset_std = read_double(v, w);
           DG_CHECK(s.init_offset_std >= 0.0, w << "=" << s.init_offset_std << " must not be negative");
         }}}},
      {BlockType::HeadGate,
       "head_gate",
       {BlockSite::AttnOutput},
       {{"identity_init", [](BlockSpec& s, const json& v, const std::string& w) { s.identity_init = read_bool(v, w); }}}},
  };
  return types;
}

template <typename Range, typename Name>
std::string join_names(const Range& items, Name name) {
  std::ostringstream out;
  bool first = true;
  for (const auto& item : items) {
    out << (first ? "" : ", ") << name(item);
    first = false;
  }
  return out.str();
}

std::string valid_types() {
  return join_names(registry(), [](const TypeDef& t) { return t.name; });
}

std::string valid_sites() {
  return join_names(kAllSites, [](BlockSite s) { return block_site_name(s); });
}

const TypeDef& find_type(const json& entry, const std::string& where) {
  DG_CHECK(entry.contains("type"), where << " has no \"type\"; valid types: " << valid_types());
  DG_CHECK(entry["type"].is_string(), where << ".type must be a string; valid types: " << valid_types());
  const std::string name = entry["type"].get<std::string>();
  for (const TypeDef& t : registry())
    if (name == t.name) return t;
  DG_THROW(where << ": unknown block type '" << name << "'; valid types: " << valid_types());
}

BlockSite find_site(const json& entry, const TypeDef& type, const std::string& where) {
  DG_CHECK(entry.contains("site"), where << " (" << type.name << ") has no \"site\"; valid sites for " << type.name
                                         << ": " << join_names(type.sites, block_site_name));
  DG_CHECK(entry["site"].is_string(), where << ".site must be a string; valid sites: " << valid_sites());
  const std::string name = entry["site"].get<std::string>();
  for (BlockSite s : kAllSites) {
    if (name != block_site_name(s)) continue;
    for (BlockSite served : type.sites)
      if (served == s) return s;
    DG_THROW(where << ": " << type.name << " cannot be used at site '" << name << "'; valid sites for " << type.name
                   << ": " << join_names(type.sites, block_site_name));
  }
  DG_THROW(where << ": unknown site '" << name << "'; valid sites: " << valid_sites());
}

}  // namespace

const char* block_type_name(BlockType type) {
  switch (type) {
    case BlockType::TauFusion: return "tau_fusion";
    case BlockType::Daam: return "daam";
    case BlockType::HeadGate: return "head_gate";
  }
  return "?";
}

const char* block_site_name(BlockSite site) {
  switch (site) {
    case BlockSite::LoopInput: return "loop_input";
    case BlockSite::LoopOutput: return "loop_output";
    case BlockSite::AttnOutput: return "attn_output";
    case BlockSite::MlpInput: return "mlp_input";
    case BlockSite::BlockOutput: return "block_output";
  }
  return "?";
}

bool is_model_level(BlockSite site) { return site == BlockSite::LoopOutput; }

std::string BlockSpec::label() const { return std::string(block_type_name(type)) + "@" + block_site_name(site); }

std::vector<BlockSpec> parse_block_specs(const json& blocks, int64_t default_groups) {
  DG_CHECK(blocks.is_array(), "blocks must be a JSON array of {\"type\", \"site\", options...} objects, got "
                                  << blocks.dump() << "; valid types: " << valid_types());
  std::vector<BlockSpec> specs;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const std::string where = "blocks[" + std::to_string(i) + "]";
    const json& entry = blocks[i];
    DG_CHECK(entry.is_object(), where << " must be an object like {\"type\": \"daam\", \"site\": \"mlp_input\"}, got "
                                      << entry.dump());
    const TypeDef& type = find_type(entry, where);
    BlockSpec spec;
    spec.type = type.type;
    spec.site = find_site(entry, type, where);
    for (const auto& [key, value] : entry.items()) {
      if (key == "type" || key == "site") continue;
      const OptionDef* option = nullptr;
      for (const OptionDef& o : type.options)
        if (key == o.name) option = &o;
      DG_CHECK(option != nullptr, where << " (" << spec.label() << "): unknown option '" << key << "'; options of "
                                        << type.name << ": "
                                        << join_names(type.options, [](const OptionDef& o) { return o.name; }));
      option->read(spec, value, where + "." + key);
    }
    if (spec.type == BlockType::TauFusion && spec.site != BlockSite::LoopInput && entry.contains("skip_stream"))
      DG_THROW(where << " (" << spec.label() << "): skip_stream applies to loop_input only");
    if (spec.type == BlockType::Daam && !entry.contains("groups")) spec.groups = default_groups;
    for (size_t j = 0; j < specs.size(); ++j)
      DG_CHECK(specs[j].type != spec.type || specs[j].site != spec.site,
               where << " (" << spec.label() << ") repeats blocks[" << j << "]: each type may appear once per site");
    specs.push_back(spec);
  }
  return specs;
}

TauFusionConfig tau_fusion_config(const BlockSpec& spec, int64_t streams, int64_t dim, std::vector<double> init_mix) {
  TauFusionConfig c;
  c.streams = streams;
  c.dim = dim;
  c.latent = spec.latent;
  c.hidden = spec.hidden;
  c.init_mix = std::move(init_mix);
  c.init_logit = spec.init_logit;
  return c;
}

DaamConfig daam_config(const BlockSpec& spec, int64_t dim) {
  DaamConfig c;
  c.dim = dim;
  c.groups = spec.groups;
  c.gaussians = spec.gaussians;
  c.residual = spec.residual;
  c.eps = spec.eps;
  c.init_scale = spec.init_scale;
  c.init_offset_std = spec.init_offset_std;
  return c;
}

HeadGateConfig head_gate_config(const BlockSpec& spec, int64_t dim, int64_t heads, int64_t head_dim) {
  HeadGateConfig c;
  c.dim = dim;
  c.heads = heads;
  c.head_dim = head_dim;
  c.identity_init = spec.identity_init;
  return c;
}

}  // namespace dg::blocks
