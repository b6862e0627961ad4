// The artifact reader (magic, version, lengths, CRC, codec payload, JSON header, tensor records,
// bit-packed ints) and the decoder on arbitrary bytes: only dg::Error may come out.
#include <string_view>
#include <vector>

#include "artifact/artifact.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const dg::artifact::Artifact artifact =
        dg::artifact::parse_artifact(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz input");
    for (const auto& tensor : artifact.tensors) {
      std::vector<float> out(static_cast<size_t>(tensor.numel()));
      dg::quant::decode_tensor(tensor, out.data());
    }
  } catch (const dg::Error&) {
  }
  return 0;
}
