#include "backend/backend_factory.h"

#include "core/error.h"

namespace dg {
namespace {
CudaProvider g_cuda;

bool provided() { return g_cuda.make != nullptr && g_cuda.usable != nullptr; }
}  // namespace

const char* precision_name(Precision p) { return p == Precision::Bf16 ? "bf16" : "fp32"; }

void provide_cuda_backend(const CudaProvider& provider) { g_cuda = provider; }
bool cuda_backend_linked() { return provided(); }

BackendRequest backend_request(const Config& config, int local_rank) {
  BackendRequest r;
  r.device = config.get_string("device");
  r.precision = config.get_string("precision");
  r.device_index = local_rank;
  return r;
}

void check_backend_settings(const Config& config) {
  const std::string device = config.get_string("device"), precision = config.get_string("precision");
  DG_CHECK(device == "auto" || device == "cpu" || device == "cuda",
           "device='" << device << "' (from " << config.origins().at("device") << ") is not valid: use auto, cpu or cuda");
  DG_CHECK(precision == "auto" || precision == "fp32" || precision == "bf16",
           "precision='" << precision << "' (from " << config.origins().at("precision")
                         << ") is not valid: use auto, fp32 or bf16");
  DG_CHECK(!(device == "cpu" && precision == "bf16"),
           "precision=bf16 needs --device cuda: the CPU backend is the fp32 reference");
}

std::unique_ptr<Backend> make_backend(const BackendRequest& request, std::string* note) {
  std::string why;
  bool use_cuda = false;
  if (request.device == "cuda") {
    DG_CHECK(provided(), "--device cuda: this build of dartgolf has no CUDA backend (built without nvcc; "
                         "configure with -DDARTGOLF_CUDA=ON on a machine with the CUDA toolkit)");
    DG_CHECK(g_cuda.usable(request.device_index, &why), "--device cuda: " << why);
    use_cuda = true;
  } else if (request.device == "auto") {
    if (!provided()) why = "this build has no CUDA backend";
    use_cuda = provided() && g_cuda.usable(request.device_index, &why);
    if (!use_cuda && note) *note = "device auto: running on the CPU (" + why + ")";
  } else {
    DG_CHECK(request.device == "cpu", "device='" << request.device << "' is not valid: use auto, cpu or cuda");
  }
  if (!use_cuda) {
    DG_CHECK(request.precision != "bf16", "precision=bf16 needs a GPU: the CPU backend is the fp32 reference");
    return make_cpu_backend();
  }
  CudaBackendOptions options;
  options.device_index = request.device_index;
  options.precision = request.precision == "fp32" ? Precision::Fp32 : Precision::Bf16;
  return g_cuda.make(options);
}

}  // namespace dg
