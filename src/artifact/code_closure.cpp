#include "artifact/code_closure.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"

namespace dg::artifact {
namespace fs = std::filesystem;

namespace {

// Folders whose files can be compiled into the program or included by it.
constexpr const char* kCodeFolders[] = {"src", "kernels"};

std::string relative_text(const fs::path& file, const fs::path& root) { return fs::relative(file, root).generic_string(); }

bool is_project_archive(const std::string& archive) {
  // The build links its own static libraries by relative path; system ones come absolute (/usr/...).
  return !archive.empty() && archive.front() != '/' && fs::path(archive).extension() == ".a";
}

// Every file under the code folders, by its object name ("trainer.cpp.o" → its relative paths).
std::map<std::string, std::vector<std::string>> sources_by_object_name(const fs::path& root) {
  std::map<std::string, std::vector<std::string>> out;
  for (const char* folder : kCodeFolders) {
    std::error_code ec;
    if (!fs::is_directory(root / folder, ec)) continue;
    for (const fs::directory_entry& e : fs::recursive_directory_iterator(root / folder))
      if (e.is_regular_file()) out[e.path().filename().string() + ".o"].push_back(relative_text(e.path(), root));
  }
  return out;
}

// "CMakeFiles/<target>.dir/src/cli/x.cpp.o" → "src/cli/x.cpp" (CMake mirrors the source path).
std::string source_of_object(const std::string& object) {
  static const std::regex pattern(R"(^(?:.*/)?CMakeFiles/[^/]+\.dir/(.+)\.o$)");
  std::smatch m;
  return std::regex_match(object, m, pattern) ? m[1].str() : std::string();
}

std::vector<fs::path> include_search_path(const fs::path& including_file, const fs::path& root) {
  std::vector<fs::path> dirs{including_file.parent_path()};
  for (const char* folder : kCodeFolders) dirs.push_back(root / folder);
  return dirs;
}

}  // namespace

fs::path default_source_root() { return fs::path(DARTGOLF_SOURCE_DIR); }
fs::path default_build_dir() { return fs::path(DARTGOLF_BINARY_DIR); }

std::string code_closure_rule() {
  return std::string("CMakeLists.txt + the sources linked into ") + kSubmissionTarget +
         " (its link map) + the project headers they include";
}

std::vector<std::string> linked_sources(const std::string& link_map, const fs::path& root) {
  // "libx.a(member.o)", then the referencing object on the same line when the name is short.
  static const std::regex member(R"(^(\S+)\(([^()]+\.o)\)(\s.*)?$)");
  static const std::regex load(R"(^LOAD\s+(\S+\.o)\s*$)");
  const auto by_name = sources_by_object_name(root);
  std::set<std::string> sources;
  std::istringstream in(link_map);
  std::string line;
  bool saw_member_section = false;
  while (std::getline(in, line)) {
    if (line.rfind("Archive member included", 0) == 0) saw_member_section = true;
    std::smatch m;
    if (std::regex_match(line, m, member) && is_project_archive(m[1].str())) {
      const auto it = by_name.find(m[2].str());
      DG_CHECK(it != by_name.end(), "link map: the program links " << m[1].str() << "(" << m[2].str()
                                                                    << ") but no source of that name is under " << root);
      sources.insert(it->second.begin(), it->second.end());  // a repeated file name counts every candidate
    } else if (std::regex_match(line, m, load)) {
      const std::string source = source_of_object(m[1].str());
      if (!source.empty()) sources.insert(source);
    }
  }
  DG_CHECK(saw_member_section && !sources.empty(),
           "the link map holds no linked project objects: is it a GNU ld map (-Map) of " << kSubmissionTarget << "?");
  for (const std::string& s : sources)
    DG_CHECK(fs::is_regular_file(root / s), "link map: the program was built from " << s << ", which is not under " << root
                                                                                     << " (rebuild, or give the matching --source-root)");
  return {sources.begin(), sources.end()};
}

namespace {
// The conditional blocks an include sits in. The counted program is the nvcc build, where
// DARTGOLF_CUDA_EMULATED (the CPU emulator's build of the same kernel sources) is never defined: an
// include only that build takes is not counted. Any other condition counts both branches.
class EmulatorOnlyBlocks {
 public:
  // Reads one line; true when it is a preprocessor conditional (and so no include).
  bool track(const std::string& line) {
    static const std::regex directive(R"(^\s*#\s*(ifdef|ifndef|if|elif|else|endif)\b\s*(.*))");
    std::smatch m;
    if (!std::regex_search(line, m, directive)) return false;
    const std::string kind = m[1].str(), condition = m[2].str();
    const bool names_emulator = condition.find("DARTGOLF_CUDA_EMULATED") != std::string::npos;
    if (kind == "ifdef" || kind == "if") {
      frames_.push_back({names_emulator && condition.find('!') == std::string::npos, false, false});
    } else if (kind == "ifndef") {
      frames_.push_back({false, names_emulator, false});
    } else if ((kind == "else" || kind == "elif") && !frames_.empty()) {
      frames_.back().in_else = true;
    } else if (kind == "endif" && !frames_.empty()) {
      frames_.pop_back();
    }
    return true;
  }
  bool emulator_only() const {
    for (const Frame& f : frames_)
      if ((f.emulated_when_true && !f.in_else) || (f.emulated_when_false && f.in_else)) return true;
    return false;
  }

 private:
  struct Frame {
    bool emulated_when_true, emulated_when_false, in_else;
  };
  std::vector<Frame> frames_;
};
}  // namespace

std::vector<std::string> include_closure(const std::vector<std::string>& sources, const fs::path& root) {
  static const std::regex include_line(R"(^\s*#\s*include\s*\"([^\"]+)\")");
  std::set<std::string> seen(sources.begin(), sources.end());
  std::vector<std::string> pending(sources.begin(), sources.end());
  while (!pending.empty()) {
    const fs::path file = root / pending.back();
    pending.pop_back();
    std::ifstream in(file);
    DG_CHECK(in, "cannot read " << file << " while computing the code closure");
    std::string line;
    EmulatorOnlyBlocks blocks;
    while (std::getline(in, line)) {
      if (blocks.track(line)) continue;
      std::smatch m;
      if (!std::regex_search(line, m, include_line) || blocks.emulator_only()) continue;
      for (const fs::path& dir : include_search_path(file, root)) {
        const fs::path candidate = (dir / m[1].str()).lexically_normal();
        std::error_code ec;
        if (!fs::is_regular_file(candidate, ec)) continue;
        const std::string rel = relative_text(candidate, root);
        if (rel.rfind("..", 0) != 0 && seen.insert(rel).second) pending.push_back(rel);
        break;  // the first folder that has it is the one the compiler takes
      }
    }
  }
  return {seen.begin(), seen.end()};
}

std::vector<CodeFile> code_closure(const fs::path& root, const fs::path& build_dir) {
  std::error_code ec;
  DG_CHECK(fs::is_regular_file(root / "CMakeLists.txt", ec) && fs::is_directory(root / "src", ec),
           "source root " << root << " is not a dartgolf source tree (no CMakeLists.txt and src/ there); "
                             "give the repository with --source-root DIR");
  const fs::path map = build_dir / (std::string(kSubmissionTarget) + ".map");
  DG_CHECK(fs::is_regular_file(map, ec), "no link map " << map << ": build the submission program first (cmake --build "
                                                        << build_dir.string() << " --target " << kSubmissionTarget
                                                        << "), or give its build folder with --build-dir DIR");
  std::vector<std::string> paths = include_closure(linked_sources(read_file_bytes(map), root), root);
  paths.push_back("CMakeLists.txt");
  std::sort(paths.begin(), paths.end());
  std::vector<CodeFile> files;
  for (const std::string& p : paths) files.push_back({p, static_cast<int64_t>(fs::file_size(root / p))});
  return files;
}

int64_t total_code_bytes(const std::vector<CodeFile>& files) {
  int64_t total = 0;
  for (const CodeFile& f : files) total += f.bytes;
  return total;
}

}  // namespace dg::artifact
