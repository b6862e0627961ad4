// The kernel-source preparation of the emulator build: static __shared__ becomes a registered
// static on the same line, and the dialect's rules are enforced with file:line errors.
#include <gtest/gtest.h>

#include <algorithm>

#include "emu/source_rewrite.h"
#include "emu_test_util.h"

namespace {

using dg::emu::prepare_kernel_source;

std::string prepared(const std::string& source) { return prepare_kernel_source(source, "k.cu"); }

TEST(EmuSourceRewrite, StaticSharedBecomesARegisteredStaticOnTheSameLine) {
  const std::string source =
      "template <int N>\n"
      "__global__ void k() {\n"
      "  __shared__ __align__(16) float tile[N][N + 1];  // a tile\n"
      "  __shared__ typename Traits<T, 4>::type\n"
      "      value;\n"
      "}\n";
  const std::string out = prepared(source);
  EXPECT_EQ(out.rfind("#line 1 \"k.cu\"\n", 0), 0u);
  EXPECT_NE(out.find("  static __align__(16) float tile[N][N + 1]; [[maybe_unused]] static const bool dg_emu_shared_tile_ = "
                     "::dg::emu::register_static_shared(__builtin_addressof(tile), sizeof(tile), \"tile\", __FILE__, __LINE__);"
                     "  // a tile\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("static typename Traits<T, 4>::type\n      value; [[maybe_unused]] static const bool dg_emu_shared_value_"),
            std::string::npos)
      << out;
  // Same number of lines after the #line directive, so diagnostics and gdb point at the original.
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), std::count(source.begin(), source.end(), '\n') + 1);
}

TEST(EmuSourceRewrite, CommentsStringsAndDirectivesAreLeftAlone) {
  const std::string source =
      "// __shared__ float a[4];\n"
      "/* __shared__ float b[4]; <<< */\n"
      "const char* s = \"__shared__ <<<\";\n"
      "char c = '<';\n"
      "int n = 1'000;\n"
      "#define DG_DYNAMIC_SHARED(type, name) extern __shared__ unsigned char x[]; \\\n"
      "  type* name = x\n";
  EXPECT_EQ(prepared(source), "#line 1 \"k.cu\"\n" + source);
}

TEST(EmuSourceRewrite, DialectViolationsAreErrorsWithFileAndLine) {
  auto error = [](const std::string& source) { return dg::test::error_of([&] { prepared(source); }); };
  EXPECT_NE(error("void f() {\n  k<<<1, 32>>>(x);\n}\n").find("k.cu:2: <<<...>>> launch"), std::string::npos);
  EXPECT_NE(error("\nextern __shared__ float dyn[];\n").find("k.cu:2: extern __shared__: dynamic shared memory is declared "
                                                               "DG_DYNAMIC_SHARED(type, name)"),
            std::string::npos);
  EXPECT_NE(error("__shared__ float a[4], b[4];\n").find("k.cu:1: one variable per __shared__ declaration"),
            std::string::npos);
  EXPECT_NE(error("__shared__ int a = 3;\n").find("take no initializer"), std::string::npos);
  EXPECT_NE(error("__shared__ float;\n").find("cannot find the variable name"), std::string::npos);
  EXPECT_NE(error("__shared__ float a[4]\n").find("without ';'"), std::string::npos);
}

}  // namespace
