#include "model/model_factory.h"

#include "core/error.h"
#include "model/dart_layout.h"
#include "model/dart_model.h"
#include "model/gpt_model.h"

namespace dg {

std::unique_ptr<LanguageModel> make_model(const Config& config, Backend& backend, int64_t max_rows, int64_t seq_len) {
  const std::string kind = config.get_string("model");
  if (kind == "gpt") return std::make_unique<GptModel>(GptShape::from_config(config), backend, max_rows, seq_len);
  if (kind == "dart") return std::make_unique<DartModel>(DartShape::from_config(config), backend, max_rows, seq_len);
  DG_THROW("unknown model '" << kind << "'; valid models: gpt, dart");
}

ParamLayout model_layout(const Config& config) {
  const std::string kind = config.get_string("model");
  if (kind == "gpt") return build_gpt_layout(GptShape::from_config(config));
  if (kind == "dart") return build_dart_layout(DartShape::from_config(config));
  DG_THROW("unknown model '" << kind << "'; valid models: gpt, dart");
}

}  // namespace dg
