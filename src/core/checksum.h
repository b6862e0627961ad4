// CRC-32 (zlib's polynomial, as gzip and PNG use it): the checksum dartgolf's checkpoints,
// artifacts and prepare manifests carry, so a corrupt or truncated file is refused on load.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace dg {

// Continues a CRC-32 over `n` more bytes; start with crc = 0.
uint32_t crc32_update(uint32_t crc, const void* data, size_t n);
inline uint32_t crc32_of(std::string_view bytes) { return crc32_update(0, bytes.data(), bytes.size()); }

}  // namespace dg
