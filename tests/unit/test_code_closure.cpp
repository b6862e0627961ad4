// Code bytes: the counted set is computed from the submission program's link map and its sources'
// includes (synthetic maps and trees with known answers, then the real build), the archive is a
// standard tar that `tar` unpacks to the same files in every format, and the 16,000,000-byte cap
// is enforced with a clear error.
#include <gtest/gtest.h>

#include "artifact/code_archive.h"
#include "artifact/code_closure.h"
#include "artifact/source_minifier.h"
#include "artifact/size_accounting.h"
#include "artifact/tar_writer.h"
#include "core/error.h"
#include "core/fs.h"
#include "test_support.h"

namespace dg::artifact {
namespace {
namespace fs = std::filesystem;

// A GNU ld map in the shape ld writes it: members whose referrer wraps to the next line, members
// with the referrer on the same line, system archives, and the LOAD lines of the program's objects.
const char* kSampleMap =
    "Archive member included to satisfy reference by file (symbol)\n"
    "\n"
    "libdartgolf_lib.a(a_very_long_member_name.cpp.o)\n"
    "                              CMakeFiles/prog.dir/src/cli/main_x.cpp.o (f())\n"
    "libdartgolf_lib.a(b.cpp.o)    libdartgolf_lib.a(a_very_long_member_name.cpp.o) (g())\n"
    "/usr/lib/gcc/x86_64-linux-gnu/12/libstdc++.a(ios.o)\n"
    "                              libdartgolf_lib.a(b.cpp.o) (std::ios_base::Init)\n"
    "libc.so.6                     libdartgolf_lib.a(b.cpp.o) (memcpy@@GLIBC_2.14)\n"
    "\n"
    "Linker script and memory map\n"
    "\n"
    "LOAD /usr/lib/x86_64-linux-gnu/Scrt1.o\n"
    "LOAD CMakeFiles/prog.dir/src/cli/main_x.cpp.o\n"
    "LOAD libdartgolf_lib.a\n";

void write_tree(const fs::path& root) {
  test::write_text(root / "CMakeLists.txt", "project(x)\n");
  test::write_text(root / "src/cli/main_x.cpp", "#include \"lib/a.h\"\n#include <vector>\nint main() {}\n");
  test::write_text(root / "src/lib/a_very_long_member_name.cpp", "#include \"a.h\"\n#include \"lib/b.h\"\n");
  test::write_text(root / "src/lib/a.h", "#pragma once\n#if defined(NEVER)\n#  include \"core/rare.h\"\n#endif\n");
  test::write_text(root / "src/lib/b.cpp", "#include \"lib/b.h\"\n");
  test::write_text(root / "src/lib/b.h", "#pragma once\n#include \"gpu.cuh\"  // found under kernels/\n");
  test::write_text(root / "src/core/rare.h", "#pragma once\n");
  // The emulator's headers are included only where DARTGOLF_CUDA_EMULATED is defined: not counted.
  test::write_text(root / "kernels/gpu.cuh",
                   "#pragma once\n#ifdef DARTGOLF_CUDA_EMULATED\n#include \"emu/device.h\"\n#else\n"
                   "#include \"real.cuh\"\n#endif\n#ifndef DARTGOLF_CUDA_EMULATED\n#include \"real2.cuh\"\n#else\n"
                   "#include \"emu/launch.h\"\n#endif\n");
  test::write_text(root / "kernels/real.cuh", "#pragma once\n");
  test::write_text(root / "kernels/real2.cuh", "#pragma once\n");
  test::write_text(root / "kernels/emu/device.h", "#pragma once\n");
  test::write_text(root / "kernels/emu/launch.h", "#pragma once\n");
  // Present but not linked, or not included: not counted.
  test::write_text(root / "src/lib/unused.cpp", "#include \"lib/unused.h\"\n");
  test::write_text(root / "src/lib/unused.h", "#pragma once\n");
  test::write_text(root / "tests/test_a.cpp", "#include \"lib/a.h\"\n");
}

TEST(CodeClosure, LinkedSourcesComeFromTheLinkMap) {
  test::TempDir dir;
  write_tree(dir.path());
  EXPECT_EQ(linked_sources(kSampleMap, dir.path()),
            (std::vector<std::string>{"src/cli/main_x.cpp", "src/lib/a_very_long_member_name.cpp", "src/lib/b.cpp"}));
}

TEST(CodeClosure, IncludesAreFollowedAsTheCompilerResolvesThem) {
  test::TempDir dir;
  write_tree(dir.path());
  EXPECT_EQ(include_closure({"src/cli/main_x.cpp", "src/lib/a_very_long_member_name.cpp", "src/lib/b.cpp"}, dir.path()),
            (std::vector<std::string>{"kernels/gpu.cuh", "kernels/real.cuh", "kernels/real2.cuh", "src/cli/main_x.cpp",
                                      "src/core/rare.h",
                                      "src/lib/a.h", "src/lib/a_very_long_member_name.cpp", "src/lib/b.cpp",
                                      "src/lib/b.h"}));
}

TEST(CodeClosure, TheWholeSetAddsTheBuildFile) {
  test::TempDir dir;
  write_tree(dir.path());
  test::write_text(dir / "build/dartgolf_submission.map", kSampleMap);
  std::vector<std::string> names;
  for (const CodeFile& f : code_closure(dir.path(), dir / "build")) names.push_back(f.path);
  EXPECT_EQ(names.front(), "CMakeLists.txt");
  EXPECT_EQ(names.size(), 10u);  // CMakeLists.txt and the nine of the include closure
  for (const std::string& n : names) {
    EXPECT_EQ(n.find("unused"), std::string::npos) << n;
    EXPECT_EQ(n.find("emu/"), std::string::npos) << n;
  }
}

TEST(CodeClosure, AMapNamingAMissingSourceOrNoMapIsAnError) {
  test::TempDir dir;
  write_tree(dir.path());
  try {
    code_closure(dir.path(), dir / "nobuild");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--target dartgolf_submission"), std::string::npos) << e.what();
  }
  const std::string map = std::string(kSampleMap) + "libdartgolf_lib.a(gone.cpp.o)  libdartgolf_lib.a(b.cpp.o) (h())\n";
  try {
    linked_sources("Archive member included to satisfy reference by file (symbol)\n\n"
                   "libdartgolf_lib.a(gone.cpp.o)  libdartgolf_lib.a(b.cpp.o) (h())\n",
                   dir.path());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gone.cpp.o"), std::string::npos) << e.what();
  }
  EXPECT_THROW(linked_sources("not a map\n", dir.path()), Error);
}

TEST(CodeClosure, TheRealSubmissionProgramCountsTrainAndEvalOnly) {
  std::vector<std::string> names;
  for (const CodeFile& f : code_closure(default_source_root(), default_build_dir())) names.push_back(f.path);
  auto has = [&](const std::string& p) { return std::find(names.begin(), names.end(), p) != names.end(); };
  for (const char* needed : {"CMakeLists.txt", "src/cli/submission_main.cpp", "src/cli/cmd_train.cpp",
                             "src/cli/cmd_eval.cpp", "src/train/trainer.cpp", "src/quant/gptq.cpp",
                             "src/train/gptq_calibration.cpp", "src/artifact/code_closure.h", "src/data/byte_luts.cpp"})
    EXPECT_TRUE(has(needed)) << needed;
  for (const char* left_out : {"src/cli/main.cpp", "src/cli/cmd_prepare.cpp", "src/cli/cmd_inspect.cpp",
                               "src/cli/cmd_bench.cpp", "src/cli/cmd_pack.cpp", "src/cli/cmd_plot.cpp",
                               "src/data/prepare.cpp", "src/data/tokenizer_training.cpp", "src/core/gnuplot.cpp",
                               "src/train/bench.cpp", "src/model/block_heatmaps.cpp"}) {
    EXPECT_TRUE(std::filesystem::exists(default_source_root() / left_out)) << left_out << " is gone: update this list";
    EXPECT_FALSE(has(left_out)) << left_out;
  }
  for (const std::string& n : names) {
    EXPECT_TRUE(n == "CMakeLists.txt" || n.rfind("src/", 0) == 0 || n.rfind("kernels/", 0) == 0) << n;
    EXPECT_NE(n.rfind("kernels/emu/", 0), 0u) << n << ": the tests' CPU emulator of the kernels is not linked";
  }
}

TEST(CodeArchive, EveryFormatUnpacksWithTarToTheSameFiles) {
  test::TempDir dir;
  write_tree(dir.path());
  const std::vector<CodeFile> files{{"CMakeLists.txt", 11}, {"src/lib/a.h", 0}, {"src/cli/main_x.cpp", 0}};
  const std::vector<CodeArchive> archives = code_archives(dir.path(), files);
  ASSERT_EQ(archives.size(), 4u);
  for (size_t i = 1; i < archives.size(); ++i) EXPECT_LE(archives[i - 1].size(), archives[i].size());
  for (const CodeArchive& a : archives) {
    const fs::path out = dir / ("unpacked_" + a.format);
    fs::create_directories(out);
    write_file_atomic(dir / a.file_name, a.bytes);
    const std::string filter = a.format == "brotli" ? " --use-compress-program=brotli" : "";
    const auto r = test::run_command("tar -xf " + test::quoted(dir / a.file_name) + filter + " -C " + test::quoted(out));
    ASSERT_EQ(r.exit_code, 0) << a.file_name << ": " << r.output;
    // C++ sources are archived without their comments; anything else as it is.
    for (const CodeFile& f : files) {
      const std::string original = test::read_text(dir / f.path);
      EXPECT_EQ(test::read_text(out / f.path), is_cpp_source(f.path) ? strip_comments(original) : original)
          << a.format << " " << f.path;
    }
  }
  EXPECT_EQ(archives.front().source_bytes, 11 + 64 + 51);
  EXPECT_LT(archives.front().archived_source_bytes, archives.front().source_bytes);
}

TEST(CodeArchive, TarHeadersCarryLongPathsAndAreReproducible) {
  const std::string long_dir(120, 'd');
  const std::vector<TarEntry> entries{{long_dir + "/file.cpp", "x"}, {"empty.h", ""}};
  const std::string tar = ustar_archive(entries);
  EXPECT_EQ(tar, ustar_archive(entries));
  EXPECT_EQ(tar.size(), 512u * 3 + 1024u);  // two headers, one data block, the end marker
  test::TempDir dir;
  write_file_atomic(dir / "t.tar", tar);
  const auto r = test::run_command("tar -tvf " + test::quoted(dir / "t.tar"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(long_dir + "/file.cpp"), std::string::npos) << r.output;
  EXPECT_THROW(ustar_archive({{"../escape", "x"}}), Error);
}

TEST(SizeAccounting, TheCapIsSixteenMillionDecimalBytes) {
  EXPECT_NO_THROW(enforce_size_cap({15'000'000, 999'999}, false));
  EXPECT_NO_THROW(enforce_size_cap({15'000'000, 1'000'000}, false));  // exactly the cap is allowed
  try {
    enforce_size_cap({15'000'000, 1'000'001}, false);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("16000001 bytes (artifact 15000000 + code 1000001)"), std::string::npos) << m;
    EXPECT_NE(m.find("cap of 16000000 bytes by 1"), std::string::npos) << m;
    EXPECT_NE(m.find("--allow-oversize"), std::string::npos) << m;
  }
  EXPECT_NO_THROW(enforce_size_cap({15'000'000, 1'000'001}, true));
  const SubmissionSize s{16'000'000, 1};
  EXPECT_TRUE(s.over_cap());
  EXPECT_EQ(s.total(), 16'000'001);
}

TEST(SizeAccountingCli, ListsTheCountedFilesAndTheArchive) {
  test::TempDir dir;
  write_tree(dir.path());
  test::write_text(dir / "build/dartgolf_submission.map", kSampleMap);
  const auto result = test::run_dartgolf("pack --list-code-files --source-root " + test::quoted(dir.path()) +
                                         " --build-dir " + test::quoted(dir / "build"));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("11\tCMakeLists.txt\n"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("files:10 "), std::string::npos) << result.output;
  EXPECT_EQ(result.output.find("kernels/emu/"), std::string::npos) << result.output;
  for (const char* ext : {"code.tar.gz:", "code.tar.xz:", "code.tar.zst:", "code.tar.br:", "code_bytes:"})
    EXPECT_NE(result.output.find(ext), std::string::npos) << ext << "\n" << result.output;
  EXPECT_EQ(result.output.find("unused"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace dg::artifact
