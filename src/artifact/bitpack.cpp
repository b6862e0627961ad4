#include "artifact/bitpack.h"

#include "core/error.h"

namespace dg::artifact {

int64_t packed_size(int64_t count, int bits) { return (count * bits + 7) / 8; }

void pack_signed(const int8_t* values, int64_t count, int bits, std::string& out) {
  DG_CHECK(bits >= 1 && bits <= 8, "bit width " << bits << " out of range 1..8");
  const uint32_t mask = (1u << bits) - 1u;
  uint32_t buffer = 0;
  int filled = 0;
  for (int64_t i = 0; i < count; ++i) {
    buffer |= (static_cast<uint32_t>(static_cast<uint8_t>(values[i])) & mask) << filled;
    filled += bits;
    while (filled >= 8) {
      out.push_back(static_cast<char>(buffer & 0xffu));
      buffer >>= 8;
      filled -= 8;
    }
  }
  if (filled > 0) out.push_back(static_cast<char>(buffer & 0xffu));
}

void unpack_signed(const uint8_t* in, int64_t count, int bits, int8_t* values) {
  DG_CHECK(bits >= 1 && bits <= 8, "bit width " << bits << " out of range 1..8");
  const uint32_t mask = (1u << bits) - 1u;
  const uint32_t sign_bit = 1u << (bits - 1);
  uint32_t buffer = 0;
  int filled = 0;
  for (int64_t i = 0; i < count; ++i) {
    while (filled < bits) {
      buffer |= static_cast<uint32_t>(*in++) << filled;
      filled += 8;
    }
    const uint32_t raw = buffer & mask;
    buffer >>= bits;
    filled -= bits;
    values[i] = static_cast<int8_t>(static_cast<int32_t>(raw ^ sign_bit) - static_cast<int32_t>(sign_bit));
  }
}

}  // namespace dg::artifact
