#include "artifact/model_artifact.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "model/model_factory.h"
#include "model/settings.h"

namespace dg::artifact {

ArtifactSettings ArtifactSettings::from_config(const Config& config) {
  ArtifactSettings s;
  s.codec = parse_codec(config.get_string("artifact_codec"));
  s.policy = QuantPolicy::from_config(config);
  s.bitpack = config.get_bool("artifact_bitpack");
  return s;
}

std::string ArtifactSettings::scheme() const {
  return "int" + std::to_string(policy.bits) + "+" + codec_name(codec);
}

std::string ArtifactSettings::metric_prefix() const {
  return "int" + std::to_string(policy.bits) + "_" + codec_name(codec);
}

std::string ArtifactSettings::default_file_name() const {
  return "final_model.int" + std::to_string(policy.bits) + "." + codec_name(codec);
}

PackedArtifact pack_parameters(const ParamLayout& layout, const float* host_params, const Config& config,
                               const nlohmann::json& meta) {
  const ArtifactSettings settings = ArtifactSettings::from_config(config);
  Artifact artifact;
  artifact.config = config.values();
  artifact.meta = meta.is_null() ? nlohmann::json::object() : meta;  // `{}` arrives as null
  PackedArtifact packed;
  for (const ParamSpec& spec : layout.specs()) {
    artifact.tensors.push_back(encode_tensor(spec.name, spec.shape, host_params + spec.offset, settings.policy));
    packed.parameter_count += spec.numel();
    packed.baseline_bytes += 4 * spec.numel();
  }
  packed.bytes = serialize_artifact(artifact, settings.codec, settings.bitpack, &packed.sizes);
  return packed;
}

ArtifactSettings stored_settings(const Artifact& artifact) {
  ArtifactSettings s;
  s.codec = artifact.codec;
  s.bitpack = artifact.bitpacked;
  if (artifact.config.contains("artifact_bits") && artifact.config["artifact_bits"].is_number_integer())
    s.policy.bits = artifact.config["artifact_bits"].get<int>();
  for (const EncodedTensor& t : artifact.tensors)
    if (t.encoding == Encoding::IntPerRow || t.encoding == Encoding::IntPerTensor) s.policy.bits = t.bits;
  return s;
}

Config artifact_config(const Artifact& artifact, const std::filesystem::path& path) {
  Config config(default_settings(), "defaults");
  config.merge_json(artifact.config, path.string() + " (stored config)");
  return config;
}

void check_artifact_layout(const Artifact& artifact, const ParamLayout& layout, const std::filesystem::path& path) {
  std::ostringstream problems;
  for (const ParamSpec& spec : layout.specs()) {
    const EncodedTensor* found = nullptr;
    for (const EncodedTensor& t : artifact.tensors)
      if (t.name == spec.name) found = &t;
    if (!found) problems << "\n  missing: " << spec.name << " " << format_shape(spec.shape);
    else if (found->shape != spec.shape)
      problems << "\n  shape of " << spec.name << ": artifact " << format_shape(found->shape) << ", config "
               << format_shape(spec.shape);
  }
  for (const EncodedTensor& t : artifact.tensors) {
    bool known = false;
    for (const ParamSpec& spec : layout.specs()) known = known || spec.name == t.name;
    if (!known) problems << "\n  unexpected: " << t.name << " " << format_shape(t.shape);
  }
  DG_CHECK(problems.str().empty(), path.string() << ": config mismatch: the artifact's tensors are not the model its config "
                                                    "(and any --set) describes:"
                                                 << problems.str());
}

void load_artifact_weights(const Artifact& artifact, const std::filesystem::path& path, LanguageModel& model,
                           Backend& backend) {
  const ParamLayout& layout = model.layout();
  check_artifact_layout(artifact, layout, path);
  std::vector<float> host(static_cast<size_t>(layout.buffer_elements()), 0.0f);
  for (const EncodedTensor& t : artifact.tensors) {
    float* values = host.data() + layout.find(t.name).offset;
    decode_tensor(t, values);
    // pack refuses non-finite weights, but a stored fp16/fp32 scale or value can still decode to inf.
    const int64_t n = t.numel();
    const float* bad = std::find_if(values, values + n, [](float v) { return !std::isfinite(v); });
    DG_CHECK(bad == values + n, path.string() << ": tensor " << t.name << " decodes to " << *bad << " at element "
                                              << (bad - values) << ": the artifact holds a weight that is not finite");
  }
  backend.copy_from_host(model.params(), host.data());
}

std::string serialized_line(const ArtifactSettings& settings, const PackedArtifact& packed) {
  const double ratio = static_cast<double>(packed.baseline_bytes) / static_cast<double>(std::max<int64_t>(packed.sizes.payload_bytes, 1));
  return "Serialized model " + settings.scheme() + ": " + std::to_string(packed.sizes.file_bytes) + " bytes (payload:" +
         std::to_string(packed.sizes.payload_bytes) + " raw:" + std::to_string(packed.sizes.raw_bytes) +
         " payload_ratio:" + fixed(ratio, 2) + "x)";
}

}  // namespace dg::artifact
