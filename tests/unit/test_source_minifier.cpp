// The code archive's sources lose their comments and nothing else: every literal byte for byte,
// the line structure directives and backslash continuations need, the blank between two tokens.
#include <gtest/gtest.h>

#include <string>

#include "artifact/source_minifier.h"

namespace dg::artifact {
namespace {

TEST(StripComments, CommentsAndLayoutGo) {
  EXPECT_EQ(strip_comments("// header\n\n#include \"a.h\"  // why\n\nint   f(int x) {\n    return x;   /* done */\n}\n"),
            "#include \"a.h\"\nint f(int x) {\nreturn x;\n}\n");
  EXPECT_EQ(strip_comments("int a/* between */b;\n"), "int a b;\n");  // a comment is a blank, not nothing
  EXPECT_EQ(strip_comments("/* one\n   two */ int x;\n"), "int x;\n");
  EXPECT_EQ(strip_comments("int x; /* spans\n lines */ int y;\n"), "int x; int y;\n");
  EXPECT_EQ(strip_comments("a\t\tb"), "a b\n");
  EXPECT_EQ(strip_comments(""), "");
}

TEST(StripComments, LiteralsStayByteForByte) {
  const std::string code =
      "const char* a = \"// not a comment /* nor this */\";\n"
      "const char* b = \"quote \\\" then // still a string\";\n"
      "char c = '\"'; char d = '\\''; char e = '/';\n"
      "const char* r = R\"x(raw // text\n  \"kept\" /* too */\n)x\";\n"
      "const char* s = u8R\"(two  spaces)\";\n"
      "const wchar_t* w = L\"wide  //\";\n";
  EXPECT_EQ(strip_comments(code), code);
}

TEST(StripComments, DigitSeparatorsAreNotCharacterLiterals) {
  EXPECT_EQ(strip_comments("int64_t cap = 16'000'000;  // bytes\nchar q = 'x'; // c\n"),
            "int64_t cap = 16'000'000;\nchar q = 'x';\n");
  EXPECT_EQ(strip_comments("double x = 1.5e-3 + 0x1'0p+2; // y\n"), "double x = 1.5e-3 + 0x1'0p+2;\n");
}

TEST(StripComments, DirectivesAndContinuationsKeepTheirLines) {
  // The continuation's blank still separates tokens; the empty line that ends the macro stays.
  EXPECT_EQ(strip_comments("#define ADD(a, b) \\\n    ((a) + (b))  // sum\n\nint x;\n"),
            "#define ADD(a, b) \\\n ((a) + (b))\nint x;\n");
  EXPECT_EQ(strip_comments("#define X 1 \\\n\nint y;\n"), "#define X 1 \\\n\nint y;\n");
  // A line comment ending in a backslash swallows the next line, as the compiler does.
  EXPECT_EQ(strip_comments("int a; // note \\\nint hidden;\nint b;\n"), "int a;\nint b;\n");
  // A block comment inside a directive does not end it.
  EXPECT_EQ(strip_comments("#define Y 1 /* a\n b */ + 2\n"), "#define Y 1 + 2\n");
}

TEST(StripComments, StrippingTwiceChangesNothing) {
  const std::string once = strip_comments("#if A  // x\n  int f();  /* y */\n#endif\n\nstatic const char* z = \"//\";\n");
  EXPECT_EQ(strip_comments(once), once);
}

TEST(StripComments, OnlyCppAndCudaSources) {
  for (const char* p : {"src/a.cpp", "src/a.h", "kernels/k.cu", "kernels/k.cuh", "x.hpp", "x.cc"})
    EXPECT_TRUE(is_cpp_source(p)) << p;
  for (const char* p : {"CMakeLists.txt", "kernels/emu/CudaEmulator.cmake", "a.py", "h", ".h"})
    EXPECT_FALSE(is_cpp_source(p)) << p;
}

}  // namespace
}  // namespace dg::artifact
