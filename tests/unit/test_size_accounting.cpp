// Size accounting: exactly the documented file set is counted (on a tree the test builds), the
// 16,000,000-byte cap is enforced with a clear error, and `pack` refuses an oversize submission
// unless --allow-oversize.
#include <gtest/gtest.h>

#include "artifact/size_accounting.h"
#include "core/error.h"
#include "test_support.h"

namespace dg::artifact {
namespace {
namespace fs = std::filesystem;

// A source tree with counted and uncounted files of known sizes.
void write_tree(const fs::path& root) {
  test::write_text(root / "CMakeLists.txt", std::string(10, 'c'));
  test::write_text(root / "src/main.cpp", std::string(100, 'a'));
  test::write_text(root / "src/core/b.h", std::string(50, 'b'));
  test::write_text(root / "src/core/c.hpp", std::string(7, 'b'));
  test::write_text(root / "src/x/y/deep.cc", std::string(3, 'd'));
  test::write_text(root / "kernels/k.cu", std::string(30, 'k'));
  test::write_text(root / "kernels/k.cuh", std::string(20, 'k'));
  // Not needed to build or evaluate: not counted.
  test::write_text(root / "src/README.md", std::string(1000, 'x'));
  test::write_text(root / "src/notes.txt", std::string(1000, 'x'));
  test::write_text(root / "src/kernel_note.cu", std::string(1000, 'x'));  // .cu counts only under kernels/
  test::write_text(root / "kernels/emu/runtime.cpp", std::string(1000, 'x'));  // the tests' CPU emulator
  test::write_text(root / "tests/test_a.cpp", std::string(1000, 'x'));
  test::write_text(root / "tests/CMakeLists.txt", std::string(1000, 'x'));
  test::write_text(root / "scripts/run.sh", std::string(1000, 'x'));
  test::write_text(root / "docs/a.md", std::string(1000, 'x'));
}

TEST(SizeAccounting, CountsExactlyTheDocumentedFileSet) {
  test::TempDir dir;
  write_tree(dir.path());
  const std::vector<CodeFile> files = list_code_files(dir.path());
  std::vector<std::string> names;
  for (const CodeFile& f : files) names.push_back(f.path);
  EXPECT_EQ(names, (std::vector<std::string>{"CMakeLists.txt", "kernels/k.cu", "kernels/k.cuh", "src/core/b.h",
                                             "src/core/c.hpp", "src/main.cpp", "src/x/y/deep.cc"}));
  EXPECT_EQ(total_code_bytes(files), 10 + 30 + 20 + 50 + 7 + 100 + 3);
}

TEST(SizeAccounting, TheRealTreeCountsItsSources) {
  const std::vector<CodeFile> files = list_code_files(default_source_root());
  bool has_cmake = false, has_quantizer = false, has_kernel = false, has_tests = false, has_emulator = false;
  for (const CodeFile& f : files) {
    has_cmake |= f.path == "CMakeLists.txt";
    has_quantizer |= f.path == "src/artifact/quantizer.cpp";
    has_kernel |= f.path == "kernels/bpb_bytes.cu";
    has_tests |= f.path.rfind("tests/", 0) == 0;
    has_emulator |= f.path.rfind("kernels/emu/", 0) == 0;
  }
  EXPECT_TRUE(has_cmake && has_quantizer && has_kernel);
  EXPECT_FALSE(has_tests);
  EXPECT_FALSE(has_emulator);
  EXPECT_GT(total_code_bytes(files), 10000);
}

TEST(SizeAccounting, ARootThatIsNotASourceTreeIsAnError) {
  test::TempDir dir;
  test::write_text(dir / "src/a.cpp", "int x;\n");
  try {
    list_code_files(dir.path());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a dartgolf source tree"), std::string::npos) << e.what();
  }
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

TEST(SizeAccountingCli, ListsTheCountedFiles) {
  test::TempDir dir;
  write_tree(dir.path());
  const auto result = test::run_dartgolf("pack --list-code-files --source-root " + test::quoted(dir.path()));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("100\tsrc/main.cpp\n"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("code_bytes:220 files:7"), std::string::npos) << result.output;
  EXPECT_EQ(result.output.find("README"), std::string::npos);
}

}  // namespace
}  // namespace dg::artifact
