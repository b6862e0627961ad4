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
  s.codec = CodecChoice::parse(config.get_string("artifact_codec"));
  s.policy = quant::QuantPolicy::from_config(config);
  s.bitpack = config.get_bool("artifact_bitpack");
  return s;
}

namespace {
std::string width_name(const quant::QuantPolicy& policy) {
  return std::string(policy.quantizer == quant::Quantizer::Gptq ? "gptq_" : "") + "int" + std::to_string(policy.bits);
}
}  // namespace

std::string ArtifactSettings::scheme() const { return width_name(policy) + "+" + codec.name(); }

std::string ArtifactSettings::metric_prefix() const { return width_name(policy) + "_" + codec.name(); }

std::string ArtifactSettings::default_file_name() const { return "final_model." + width_name(policy) + "." + codec.name(); }

ArtifactSettings ArtifactSettings::as_written(const ArtifactSizes& sizes) const {
  ArtifactSettings s = *this;
  s.codec = CodecChoice(sizes.codec);
  return s;
}

PackedArtifact pack_parameters(const ParamLayout& layout, const float* host_params, const Config& config,
                               const nlohmann::json& meta, const quant::HessianMap* hessians) {
  const ArtifactSettings settings = ArtifactSettings::from_config(config);
  const bool gptq = settings.policy.quantizer == quant::Quantizer::Gptq;
  Artifact artifact;
  artifact.config = config.values();
  artifact.meta = meta.is_null() ? nlohmann::json::object() : meta;  // `{}` arrives as null
  PackedArtifact packed;
  for (const ParamSpec& spec : layout.specs()) {
    const double* hessian = nullptr;
    if (gptq && hessians) {
      const auto it = hessians->find(spec.name);
      if (it != hessians->end() && quant::choose_encoding(spec.name, spec.shape, settings.policy) == quant::Encoding::IntPerRow) {
        DG_CHECK(it->second.size() == static_cast<size_t>(spec.shape[1] * spec.shape[1]),
                 "GPTQ: the Hessian of " << spec.name << " has " << it->second.size() << " values, not " << spec.shape[1]
                                         << "^2");
        hessian = it->second.data();
        ++packed.gptq_tensors;
      }
    }
    artifact.tensors.push_back(
        quant::encode_tensor(spec.name, spec.shape, host_params + spec.offset, settings.policy, hessian));
    packed.parameter_count += spec.numel();
    packed.baseline_bytes += 4 * spec.numel();
  }
  packed.bytes = serialize_artifact(artifact, settings.codec, settings.bitpack, &packed.sizes);
  return packed;
}

ArtifactSettings stored_settings(const Artifact& artifact) {
  ArtifactSettings s;
  const Config config = artifact_config(artifact, "artifact");
  s.policy = quant::QuantPolicy::from_config(config);
  s.codec = CodecChoice(artifact.codec);
  s.bitpack = artifact.bitpacked;
  // The widths actually stored: the embedding's apart, the matrices' decide the name.
  for (const quant::EncodedTensor& t : artifact.tensors)
    if ((t.encoding == quant::Encoding::IntPerRow || t.encoding == quant::Encoding::IntPerTensor) &&
        !s.policy.is_embedding(t.name))
      s.policy.bits = t.bits;
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
    const quant::EncodedTensor* found = nullptr;
    for (const quant::EncodedTensor& t : artifact.tensors)
      if (t.name == spec.name) found = &t;
    if (!found) problems << "\n  missing: " << spec.name << " " << format_shape(spec.shape);
    else if (found->shape != spec.shape)
      problems << "\n  shape of " << spec.name << ": artifact " << format_shape(found->shape) << ", config "
               << format_shape(spec.shape);
  }
  for (const quant::EncodedTensor& t : artifact.tensors) {
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
  for (const quant::EncodedTensor& t : artifact.tensors) {
    float* values = host.data() + layout.find(t.name).offset;
    quant::decode_tensor(t, values);
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
  return "Serialized model " + settings.as_written(packed.sizes).scheme() + ": " + std::to_string(packed.sizes.file_bytes) + " bytes (payload:" +
         std::to_string(packed.sizes.payload_bytes) + " raw:" + std::to_string(packed.sizes.raw_bytes) +
         " payload_ratio:" + fixed(ratio, 2) + "x)";
}

}  // namespace dg::artifact
