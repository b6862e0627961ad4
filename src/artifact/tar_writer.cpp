#include "artifact/tar_writer.h"

#include <cstdio>
#include <cstring>

#include "core/error.h"

namespace dg::artifact {

namespace {

constexpr size_t kBlock = 512;

void put_text(char* field, size_t width, const std::string& text) {
  std::memcpy(field, text.data(), std::min(width, text.size()));
}

// A zero-padded octal number filling width − 1 digits and a NUL, as ustar writes numbers.
void put_octal(char* field, size_t width, unsigned long long value) {
  char text[32];
  std::snprintf(text, sizeof text, "%0*llo", static_cast<int>(width - 1), value);
  DG_CHECK(std::strlen(text) == width - 1, "tar: the number " << value << " does not fit a " << width << "-byte field");
  std::memcpy(field, text, width);  // includes the terminating NUL
}

// ustar keeps names over 100 characters as prefix (≤ 155) + "/" + name (≤ 100).
void put_path(char* header, const std::string& path) {
  DG_CHECK(!path.empty() && path.front() != '/' && path.find("..") == std::string::npos,
           "tar: '" << path << "' is not a relative path inside the archive");
  if (path.size() <= 100) return put_text(header, 100, path);
  const size_t cut = path.rfind('/', 155);
  DG_CHECK(cut != std::string::npos && path.size() - cut - 1 <= 100, "tar: path too long for ustar: " << path);
  put_text(header, 100, path.substr(cut + 1));
  put_text(header + 345, 155, path.substr(0, cut));
}

}  // namespace

std::string ustar_archive(const std::vector<TarEntry>& entries) {
  std::string out;
  for (const TarEntry& entry : entries) {
    char header[kBlock] = {};
    put_path(header, entry.path);
    put_octal(header + 100, 8, 0644);             // mode
    put_octal(header + 108, 8, 0);                // uid
    put_octal(header + 116, 8, 0);                // gid
    put_octal(header + 124, 12, entry.content.size());
    put_octal(header + 136, 12, 0);               // mtime
    header[156] = '0';                            // regular file
    std::memcpy(header + 257, "ustar", 6);        // magic with its NUL
    std::memcpy(header + 263, "00", 2);           // version
    std::memset(header + 148, ' ', 8);            // the checksum counts its own field as spaces
    unsigned checksum = 0;
    for (unsigned char c : header) checksum += c;
    std::snprintf(header + 148, 8, "%06o", checksum);  // six digits, NUL, then the space left from above
    out.append(header, kBlock);
    out.append(entry.content);
    out.append((kBlock - entry.content.size() % kBlock) % kBlock, '\0');
  }
  out.append(2 * kBlock, '\0');  // end of archive
  return out;
}

}  // namespace dg::artifact
