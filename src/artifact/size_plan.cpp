#include "artifact/size_plan.h"

#include <cmath>
#include <map>
#include <sstream>

#include "artifact/codec.h"
#include "artifact/size_accounting.h"
#include "core/error.h"
#include "core/log.h"
#include "model/model_factory.h"
#include "quant/quantizer.h"

namespace dg::artifact {

namespace {

constexpr int64_t kContainerBytes = 4096;  // header, config JSON and tensor table: a few KB

struct Member {
  const float* values = nullptr;
  std::string name;
  std::vector<int64_t> shape;
};

struct Group {
  std::string name;
  quant::Encoding encoding = quant::Encoding::Fp32;
  int64_t tensors = 0, numel = 0, rows = 0;
  std::vector<Member> members;
};

std::string kind_of(const std::string& name, const quant::QuantPolicy& policy) {
  if (policy.is_embedding(name)) return "embedding";
  if (name.find(".attn.") != std::string::npos) return "attention";
  if (name.find(".mlp.") != std::string::npos) return "mlp";
  return "other";
}

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

// Entropy (bits) of N(0, σ²) rounded to the grid `step`, clamped to ±qmax.
double rounded_gaussian_bits(double sigma, double step, int qmax) {
  if (!(sigma > 0.0) || !(step > 0.0)) return 0.0;
  double bits = 0.0;
  for (int q = -qmax; q <= qmax; ++q) {
    const double lo = q == -qmax ? -INFINITY : (q - 0.5) * step / sigma;
    const double hi = q == qmax ? INFINITY : (q + 0.5) * step / sigma;
    const double p = normal_cdf(hi) - normal_cdf(lo);
    if (p > 0.0) bits -= p * std::log2(p);
  }
  return bits;
}

double row_scale_for_sigma(double sigma, int64_t cols, int bits, const quant::ClipSpec& clip) {
  const int qmax = (1 << (bits - 1)) - 1;
  if (clip.rule == quant::ClipRule::SdClip) return clip.sdclip_k * sigma / qmax;
  // The percentile is the row's maximum for any row under 625,000 values: ≈ σ·√(2 ln n).
  const double max_abs = sigma * std::sqrt(2.0 * std::log(static_cast<double>(std::max<int64_t>(cols, 2))));
  return std::max(max_abs / qmax, 1.0 / qmax);  // the challenge's 1/qmax floor
}

double mean_row_std(const float* w, int64_t rows, int64_t cols) {
  double total = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0.0, sq = 0.0;
    for (int64_t c = 0; c < cols; ++c) mean += w[r * cols + c];
    mean /= static_cast<double>(cols);
    for (int64_t c = 0; c < cols; ++c) sq += (w[r * cols + c] - mean) * (w[r * cols + c] - mean);
    total += std::sqrt(sq / static_cast<double>(std::max<int64_t>(cols - 1, 1)));
  }
  return total / static_cast<double>(rows);
}

// The group's payload as the artifact stores it (scales then ints, one per byte; or the floats).
std::string group_payload(const Group& g, const quant::QuantPolicy& policy) {
  std::string out;
  for (const Member& m : g.members) {
    const quant::EncodedTensor t = quant::encode_tensor(m.name, m.shape, m.values, policy);
    for (uint16_t s : t.row_scales) out.append(reinterpret_cast<const char*>(&s), 2);
    out.append(reinterpret_cast<const char*>(t.q.data()), t.q.size());
    for (uint16_t h : t.fp16) out.append(reinterpret_cast<const char*>(&h), 2);
    out.append(reinterpret_cast<const char*>(t.fp32.data()), t.fp32.size() * 4);
  }
  return out;
}

// Bytes per value of each encoding, for the shape search: int (with the scheme's width) and fp16.
struct Rates {
  double int_bits = 8.0, fp16_bits = 16.0;
  bool measured = false;
};

int64_t estimated_artifact_bytes(const Config& config, const Rates& rates, int64_t* params) {
  const quant::QuantPolicy policy = quant::QuantPolicy::from_config(config);
  const ParamLayout layout = model_layout(config);
  double bytes = kContainerBytes;
  *params = 0;
  for (const ParamSpec& spec : layout.specs()) {
    *params += spec.numel();
    switch (quant::choose_encoding(spec.name, spec.shape, policy)) {
      case quant::Encoding::IntPerRow: bytes += spec.numel() * rates.int_bits / 8.0 + 2.0 * spec.shape[0]; break;
      case quant::Encoding::IntPerTensor: bytes += spec.numel() * rates.int_bits / 8.0 + 4.0; break;
      case quant::Encoding::Fp16: bytes += spec.numel() * rates.fp16_bits / 8.0; break;
      case quant::Encoding::Fp32: bytes += spec.numel() * 4.0; break;
    }
  }
  return static_cast<int64_t>(std::ceil(bytes));
}

}  // namespace

double gaussian_int_bits(int64_t cols, int bits, const Config& config) {
  const quant::QuantPolicy policy = quant::QuantPolicy::from_config(config);
  return rounded_gaussian_bits(1.0, row_scale_for_sigma(1.0, cols, bits, policy.clip), (1 << (bits - 1)) - 1);
}

std::vector<std::string> plan_sizes(const Config& base, const PlanRequest& request) {
  const quant::QuantPolicy policy = quant::QuantPolicy::from_config(base);
  const CodecChoice scheme_codec = CodecChoice::parse(base.get_string("artifact_codec"));
  const ParamLayout layout = model_layout(base);
  std::vector<float> init;
  const float* params = request.params;
  if (!params) {  // a preset: the initialization's spreads (zero-initialized matrices: nn.Linear's)
    init.resize(static_cast<size_t>(layout.buffer_elements()));
    layout.initialize(init.data(), 1);
    params = init.data();
  }

  std::map<std::string, Group> groups;
  for (const ParamSpec& spec : layout.specs()) {
    const quant::Encoding e = quant::choose_encoding(spec.name, spec.shape, policy);
    const std::string key = kind_of(spec.name, policy) + " " + quant::encoding_name(e);
    Group& g = groups[key];
    g.name = key;
    g.encoding = e;
    ++g.tensors;
    g.numel += spec.numel();
    g.rows += spec.shape.size() == 2 ? spec.shape[0] : 1;
    g.members.push_back({params + spec.offset, spec.name, spec.shape});
  }

  std::vector<std::string> out;
  int64_t parameters = 0;
  for (const ParamSpec& spec : layout.specs()) parameters += spec.numel();
  out.push_back("plan: " + request.source + ", " + with_thousands(parameters) + " parameters, scheme " +
                policy.describe() + "+" + scheme_codec.name() + ", code " + with_thousands(request.code_bytes) + " bytes");
  const bool measured = request.params != nullptr;
  out.push_back(measured ? "bytes per tensor group: measured (the group's stored payload compressed alone)"
                         : "bytes per tensor group: estimated (no trained weights: Gaussian rows at their init spread, "
                           "an ideal coder; fp16 at 2 bytes)");

  // 1. Per group, per width (ints) and codec.
  std::ostringstream head;
  head << "| group | tensors | values | width |";
  const std::vector<Codec> codecs = all_codecs();
  for (Codec c : codecs) head << " " << codec_name(c) << " |";
  out.push_back(head.str());
  std::string rule = "| --- | ---: | ---: | --- |";
  for (size_t i = 0; i < codecs.size(); ++i) rule += " ---: |";
  out.push_back(rule);
  Rates rates;
  rates.measured = measured;
  double int_values = 0, int_bytes_scheme = 0, fp16_values = 0, fp16_bytes_scheme = 0;
  for (auto& [key, g] : groups) {
    const bool is_int = g.encoding == quant::Encoding::IntPerRow || g.encoding == quant::Encoding::IntPerTensor;
    const std::vector<int> widths = is_int ? request.widths : std::vector<int>{g.encoding == quant::Encoding::Fp16 ? 16 : 32};
    for (int width : widths) {
      quant::QuantPolicy p = policy;
      p.bits = width;
      p.embed_bits = 0;
      std::ostringstream row;
      row << "| " << key << " | " << g.tensors << " | " << with_thousands(g.numel) << " | "
          << (is_int ? "int" + std::to_string(width) : (width == 16 ? "fp16" : "fp32")) << " |";
      int64_t scheme_bytes = 0;
      if (measured) {
        const std::string payload = group_payload(g, p);
        for (Codec c : codecs) {
          const int64_t bytes = static_cast<int64_t>(compress(payload, c).size());
          row << " " << with_thousands(bytes) << " |";
          if (!scheme_codec.best && c == scheme_codec.codec) scheme_bytes = bytes;
          if (scheme_codec.best && (scheme_bytes == 0 || bytes < scheme_bytes)) scheme_bytes = bytes;
        }
      } else {
        double bits = width;
        if (is_int) {
          bits = 0;
          for (const Member& m : g.members) {
            const int64_t rows = m.shape.size() == 2 ? m.shape[0] : 1, cols = m.shape.back();
            double sigma = mean_row_std(m.values, rows, cols);
            if (!(sigma > 0.0)) sigma = 1.0 / std::sqrt(3.0 * static_cast<double>(cols));  // zero init: nn.Linear's spread
            bits += static_cast<double>(rows * cols) *
                    rounded_gaussian_bits(sigma, row_scale_for_sigma(sigma, cols, width, policy.clip), (1 << (width - 1)) - 1);
          }
          bits /= static_cast<double>(g.numel);
        }
        scheme_bytes = static_cast<int64_t>(g.numel * bits / 8.0 + (is_int ? 2.0 * g.rows : 0.0));
        for (size_t i = 0; i < codecs.size(); ++i) row << " ~" << with_thousands(scheme_bytes) << " |";
      }
      out.push_back(row.str());
      if (is_int && width == policy.bits) {
        int_values += static_cast<double>(g.numel);
        int_bytes_scheme += static_cast<double>(scheme_bytes - 2 * g.rows);
      } else if (g.encoding == quant::Encoding::Fp16) {
        fp16_values += static_cast<double>(g.numel);
        fp16_bytes_scheme += static_cast<double>(scheme_bytes);
      }
    }
  }
  if (int_values > 0) rates.int_bits = 8.0 * int_bytes_scheme / int_values;
  if (fp16_values > 0) rates.fp16_bits = 8.0 * fp16_bytes_scheme / fp16_values;
  std::ostringstream r;
  r.precision(3);
  r << "rates at the scheme: " << rates.int_bits << " bits per int" << policy.bits << " value, " << rates.fp16_bits
    << " bits per fp16 value (" << (measured ? "measured" : "estimated") << ")";
  out.push_back(r.str());
  int64_t own_params = 0;
  out.push_back("this shape at the scheme: estimated artifact " + with_thousands(estimated_artifact_bytes(base, rates, &own_params)) +
                " bytes");

  // 2. The widest model_dim per depth that fits.
  const bool dart = base.get_string("model") == "dart";
  const char* depth_key = dart ? "num_unique_blocks" : "num_layers";
  const int64_t heads = base.get_int("num_heads");
  out.push_back(std::string("largest shapes under ") + with_thousands(kSubmissionCapBytes) + " bytes (" + depth_key +
                " x the widest model_dim, a multiple of 64 with an even head_dim):");
  out.push_back(std::string("| ") + depth_key + " | model_dim | parameters | artifact (est.) | total (est.) |");
  out.push_back("| ---: | ---: | ---: | ---: | ---: |");
  const int64_t depth0 = base.get_int(depth_key);
  for (int64_t depth = std::max<int64_t>(1, depth0 - 4); depth <= depth0 + 6; ++depth) {
    int64_t best_dim = 0, best_params = 0, best_bytes = 0;
    for (int64_t dim = 64; dim <= 8192; dim += 64) {
      if (dim % heads != 0 || (dim / heads) % 2 != 0) continue;
      Config c = base;
      c.set_value(depth_key, depth, "plan");
      c.set_value("model_dim", dim, "plan");
      int64_t count = 0;
      const int64_t bytes = estimated_artifact_bytes(c, rates, &count);
      if (bytes + request.code_bytes > kSubmissionCapBytes) break;
      best_dim = dim, best_params = count, best_bytes = bytes;
    }
    if (best_dim == 0) continue;
    out.push_back("| " + std::to_string(depth) + " | " + std::to_string(best_dim) + " | " + with_thousands(best_params) +
                  " | " + with_thousands(best_bytes) + " | " + with_thousands(best_bytes + request.code_bytes) + " |");
  }
  return out;
}

}  // namespace dg::artifact
