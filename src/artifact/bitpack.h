// Dense packing of small signed integers: `bits` per value (2..8), two's complement, least
// significant bit first, values back to back across byte boundaries, the last byte zero-padded.
// int6 stores four weights in three bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dg::artifact {

int64_t packed_size(int64_t count, int bits);
// Appends packed_size(count, bits) bytes; each value must fit in `bits` signed bits.
void pack_signed(const int8_t* values, int64_t count, int bits, std::string& out);
// Reads packed_size(count, bits) bytes from `in`.
void unpack_signed(const uint8_t* in, int64_t count, int bits, int8_t* values);

}  // namespace dg::artifact
