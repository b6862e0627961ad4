#include "artifact/code_archive.h"

#include <lzma.h>
#include <zlib.h>

#include <algorithm>

#include "artifact/codec.h"
#include "artifact/source_minifier.h"
#include "artifact/tar_writer.h"
#include "core/error.h"
#include "core/fs.h"

namespace dg::artifact {
namespace fs = std::filesystem;

namespace {

// gzip's container (what `tar -z` reads): deflate at level 9 with zlib's gzip header and trailer.
std::string gzip_compress(const std::string& raw) {
  z_stream z{};
  DG_CHECK(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) == Z_OK, "gzip: deflateInit2 failed");
  std::string out(deflateBound(&z, static_cast<uLong>(raw.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  const size_t size = z.total_out;
  deflateEnd(&z);
  DG_CHECK(rc == Z_STREAM_END, "gzip compression failed (" << rc << ")");
  out.resize(size);
  return out;
}

// The .xz container (what `tar -J` reads), unlike the artifact's raw LZMA2.
std::string xz_compress(const std::string& raw) {
  std::string out(lzma_stream_buffer_bound(raw.size()), '\0');
  size_t size = 0;
  const lzma_ret rc = lzma_easy_buffer_encode(9 | LZMA_PRESET_EXTREME, LZMA_CHECK_CRC64, nullptr,
                                              reinterpret_cast<const uint8_t*>(raw.data()), raw.size(),
                                              reinterpret_cast<uint8_t*>(out.data()), &size, out.size());
  DG_CHECK(rc == LZMA_OK, "xz compression failed (liblzma code " << rc << ")");
  out.resize(size);
  return out;
}

}  // namespace

std::vector<CodeArchive> code_archives(const fs::path& root, const std::vector<CodeFile>& files) {
  std::vector<TarEntry> entries;
  int64_t source_bytes = 0;
  int64_t archived_source_bytes = 0;
  for (const CodeFile& f : files) {
    std::string content = read_file_bytes(root / f.path);
    source_bytes += static_cast<int64_t>(content.size());
    if (is_cpp_source(f.path)) content = strip_comments(content);
    archived_source_bytes += static_cast<int64_t>(content.size());
    entries.push_back({f.path, std::move(content)});
  }
  const std::string tar = ustar_archive(entries);
  std::vector<CodeArchive> out;
  auto add = [&](const char* format, const char* extension, std::string bytes) {
    CodeArchive a;
    a.format = format;
    a.file_name = std::string("code.tar.") + extension;
    a.bytes = std::move(bytes);
    a.tar_bytes = static_cast<int64_t>(tar.size());
    a.source_bytes = source_bytes;
    a.archived_source_bytes = archived_source_bytes;
    a.files = files;
    out.push_back(std::move(a));
  };
  add("gzip", "gz", gzip_compress(tar));
  add("xz", "xz", xz_compress(tar));
  add("zstd", "zst", compress(tar, Codec::Zstd));      // a standard zstd frame
  add("brotli", "br", compress(tar, Codec::Brotli));   // a standard brotli stream
  std::stable_sort(out.begin(), out.end(), [](const CodeArchive& a, const CodeArchive& b) { return a.size() < b.size(); });
  return out;
}

CodeArchive build_code_archive(const fs::path& root, const fs::path& build_dir) {
  return code_archives(root, code_closure(root, build_dir)).front();
}

std::string code_size_line(const CodeArchive& archive) {
  return "Code size: " + std::to_string(archive.size()) + " bytes (" + archive.file_name + ": " +
         std::to_string(archive.files.size()) + " files, " + std::to_string(archive.source_bytes) +
         " bytes of source, " + std::to_string(archive.archived_source_bytes) + " without comments; " + code_closure_rule() + "; list: dartgolf pack --list-code-files)";
}

}  // namespace dg::artifact
