// Between a model's flat parameter buffer and an artifact: quantize the weights as the run config
// says (codec, bit width, keep-fp32 patterns), and load an artifact's dequantized weights back into
// a model after checking that its tensors are exactly those its stored config describes.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "artifact/artifact.h"
#include "backend/backend.h"
#include "core/config.h"
#include "model/language_model.h"
#include "model/param_layout.h"

namespace dg::artifact {

// The artifact_* settings of a run.
struct ArtifactSettings {
  CodecChoice codec;
  quant::QuantPolicy policy = quant::QuantPolicy::challenge_default();
  bool bitpack = false;
  static ArtifactSettings from_config(const Config& config);
  // "int8+zlib", as train_gpt.py's "Serialized model int8+zlib:"; GPTQ adds a prefix: "gptq_int6+brotli".
  std::string scheme() const;
  std::string metric_prefix() const;      // "int8_zlib", as in "final_int8_zlib_roundtrip_exact"
  std::string default_file_name() const;  // "final_model.int8.zlib"
  // The same settings naming the codec a file was written with (`best` resolved).
  ArtifactSettings as_written(const ArtifactSizes& sizes) const;
};

struct PackedArtifact {
  std::string bytes;
  ArtifactSizes sizes;
  int64_t parameter_count = 0;
  int64_t baseline_bytes = 0;  // the fp32 tensors' bytes, for the payload ratio train_gpt.py prints
  int64_t gptq_tensors = 0;    // tensors quantized by GPTQ (the rest of the int ones: round to nearest)
};

// Quantizes every tensor of `layout` (values in `host_params`, the flat buffer) and serializes.
// `config` is stored in the artifact; `meta` too (step, train_tokens, pre-quant val_bpb, ...).
// `hessians` (GPTQ's calibration) are used when artifact_quantizer=gptq.
PackedArtifact pack_parameters(const ParamLayout& layout, const float* host_params, const Config& config,
                               const nlohmann::json& meta, const quant::HessianMap* hessians = nullptr);

// The codec and int width an artifact was actually written with (its header and tensor table).
ArtifactSettings stored_settings(const Artifact& artifact);

// The run config an artifact stores, on top of today's defaults.
Config artifact_config(const Artifact& artifact, const std::filesystem::path& path);
// "config mismatch" unless the artifact holds exactly the tensors (names, shapes) of `layout`.
void check_artifact_layout(const Artifact& artifact, const ParamLayout& layout, const std::filesystem::path& path);
// Dequantizes into the model's parameters (after check_artifact_layout).
void load_artifact_weights(const Artifact& artifact, const std::filesystem::path& path, LanguageModel& model,
                           Backend& backend);

// "train_gpt.py's Serialized model int8+zlib: N bytes (payload:P raw:R payload_ratio:X.XXx)".
std::string serialized_line(const ArtifactSettings& settings, const PackedArtifact& packed);

}  // namespace dg::artifact
