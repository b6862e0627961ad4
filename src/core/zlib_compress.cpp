#include "core/zlib_compress.h"

#include <zlib.h>

#include "core/error.h"

namespace dg {

std::string zlib_compress(std::string_view raw, int level, const char* what) {
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  std::string out(size, '\0');
  const int rc = compress2(reinterpret_cast<Bytef*>(out.data()), &size, reinterpret_cast<const Bytef*>(raw.data()),
                           static_cast<uLong>(raw.size()), level);
  DG_CHECK(rc == Z_OK, what << ": zlib compression failed (code " << rc << ")");
  out.resize(size);
  return out;
}

}  // namespace dg
