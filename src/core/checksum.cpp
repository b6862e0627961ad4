#include "core/checksum.h"

#include <zlib.h>

#include <algorithm>

namespace dg {

uint32_t crc32_update(uint32_t crc, const void* data, size_t n) {
  // zlib's crc32 takes a uInt length: feed large inputs in pieces.
  const auto* bytes = static_cast<const Bytef*>(data);
  uLong value = crc;
  for (size_t offset = 0; offset < n;) {
    const size_t piece = std::min<size_t>(n - offset, size_t{1} << 30);
    value = ::crc32(value, bytes + offset, static_cast<uInt>(piece));
    offset += piece;
  }
  return static_cast<uint32_t>(value);
}

}  // namespace dg
