// zlib's one-shot compression (a zlib stream: header, deflate data, Adler-32), shared by the
// artifact codec and the PNG writer.
#pragma once

#include <string>
#include <string_view>

namespace dg {

// Throws dg::Error naming `what` when zlib fails.
std::string zlib_compress(std::string_view raw, int level, const char* what);

}  // namespace dg
