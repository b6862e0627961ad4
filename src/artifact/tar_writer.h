// A POSIX ustar archive in memory: what the code archive is before compression, so that `tar`
// (with xz, gzip, zstd or brotli in front) unpacks it on any machine without dartgolf.
// Entries are regular files with mode 0644, owner 0:0 and mtime 0: the same files give the same
// bytes, so the counted code size is reproducible.
#pragma once

#include <string>
#include <vector>

namespace dg::artifact {

struct TarEntry {
  std::string path;  // relative, '/'-separated; at most 255 characters (ustar prefix + name)
  std::string content;
};

std::string ustar_archive(const std::vector<TarEntry>& entries);

}  // namespace dg::artifact
