// safetensors writer and reader: bit-exact round trips, the exact byte layout of written files,
// interop with files written and read by hand in Python, and one clear error per kind of damage.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "test_support.h"
#include "train/safetensors.h"

namespace dg {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

template <typename T>
std::string raw_bytes(std::initializer_list<T> values) {
  std::string bytes(values.size() * sizeof(T), '\0');
  std::memcpy(bytes.data(), std::data(values), bytes.size());
  return bytes;
}

uint64_t read_u64_le(const std::string& bytes, size_t at) {
  uint64_t value = 0;
  for (size_t i = 0; i < 8; ++i) value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
  return value;
}

std::string u64_le(uint64_t value) {
  std::string bytes(8, '\0');
  for (size_t i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  return bytes;
}

// A file with a given header text (no padding added) and data, written byte for byte.
fs::path write_raw(const TempDir& dir, const std::string& name, const std::string& header, const std::string& data) {
  const fs::path path = dir / name;
  test::write_text(path, u64_le(header.size()) + header + data);
  return path;
}

// Expects read_safetensors(path) to fail with a message holding the path and every fragment.
void expect_read_error(const fs::path& path, std::initializer_list<std::string> fragments) {
  try {
    read_safetensors(path);
    ADD_FAILURE() << "reading " << path << " should have failed";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    for (const auto& fragment : fragments) EXPECT_NE(message.find(fragment), std::string::npos) << "missing \"" << fragment << "\" in: " << message;
  }
}

dg::test::CommandResult run_python(const fs::path& script, const std::string& args) {
  return dg::test::run_command("/usr/bin/python3 " + dg::test::quoted(script) + " " + args);
}

SafetensorsFile mixed_file() {
  SafetensorsFile file;
  const float nan_with_payload = std::bit_cast<float>(0x7fc01234u);
  file.tensors.push_back({"blocks.0.attn.c_q.weight", "F32", {2, 3},
                          raw_bytes<float>({1.5f, -0.0f, nan_with_payload, std::numeric_limits<float>::infinity(), 1e-42f, -3.25f})});
  file.tensors.push_back({"ids", "I32", {4}, raw_bytes<int32_t>({-1, 0, 2147483647, -2147483647 - 1})});
  file.tensors.push_back({"odd_bytes", "U8", {3}, std::string("\x00\xff\x7f", 3)});  // leaves later tensors unaligned
  file.tensors.push_back({"tokens", "U16", {3, 1, 2}, raw_bytes<uint16_t>({0, 1, 1023, 65535, 7, 42})});
  file.tensors.push_back({"scale", "BF16", {}, raw_bytes<uint16_t>({0x3fc0})});
  file.tensors.push_back({"empty", "F64", {0, 5}, ""});
  file.tensors.push_back({"wide", "I64", {2}, raw_bytes<int64_t>({std::numeric_limits<int64_t>::min(), 123456789012345})});
  file.metadata = {{"format", "test"}, {"config", "{\"model_dim\": 512, \"name\": \"q\\\"uote\"}"}, {"unicode", "λ→τ"}};
  return file;
}

TEST(Safetensors, RoundTripIsBitExactForManyDtypesAndShapes) {
  TempDir dir;
  const SafetensorsFile original = mixed_file();
  write_safetensors(dir / "mixed.safetensors", original);
  const SafetensorsFile loaded = read_safetensors(dir / "mixed.safetensors");

  ASSERT_EQ(loaded.tensors.size(), original.tensors.size());
  for (size_t i = 0; i < original.tensors.size(); ++i) {
    SCOPED_TRACE(original.tensors[i].name);
    EXPECT_EQ(loaded.tensors[i].name, original.tensors[i].name);  // data order is kept
    EXPECT_EQ(loaded.tensors[i].dtype, original.tensors[i].dtype);
    EXPECT_EQ(loaded.tensors[i].shape, original.tensors[i].shape);
    EXPECT_EQ(loaded.tensors[i].bytes, original.tensors[i].bytes);
  }
  EXPECT_EQ(loaded.metadata, original.metadata);
  ASSERT_NE(loaded.find("tokens"), nullptr);
  EXPECT_EQ(loaded.find("tokens")->shape, (std::vector<int64_t>{3, 1, 2}));
  EXPECT_EQ(loaded.find("absent"), nullptr);
}

TEST(Safetensors, EmptyFileRoundTrips) {
  TempDir dir;
  write_safetensors(dir / "empty.safetensors", SafetensorsFile{});
  const SafetensorsFile loaded = read_safetensors(dir / "empty.safetensors");
  EXPECT_TRUE(loaded.tensors.empty());
  EXPECT_TRUE(loaded.metadata.empty());
}

TEST(Safetensors, WrittenFileHasTheExactLayout) {
  TempDir dir;
  SafetensorsFile file;
  file.tensors.push_back({"w", "F32", {2, 3}, raw_bytes<float>({1, 2, 3, 4, 5, 6})});
  file.tensors.push_back({"b", "U8", {1}, std::string("\x09", 1)});
  file.tensors.push_back({"a", "I32", {2}, raw_bytes<int32_t>({7, -8})});
  file.metadata = {{"step", "12"}};
  const fs::path path = dir / "layout.safetensors";
  write_safetensors(path, file);

  const std::string bytes = test::read_text(path);
  ASSERT_GE(bytes.size(), 8u);
  const uint64_t header_size = read_u64_le(bytes, 0);
  EXPECT_EQ(header_size % 8, 0u) << "header must be padded to a multiple of 8 bytes";
  ASSERT_EQ(bytes.size(), 8 + header_size + 24 + 1 + 8) << "length field + header + packed data, nothing else";

  const std::string header = bytes.substr(8, header_size);
  const size_t json_end = header.find_last_not_of(' ') + 1;
  EXPECT_LT(header.size() - json_end, 8u) << "no more padding than needed";
  EXPECT_EQ(header.front(), '{');
  EXPECT_EQ(header[json_end - 1], '}');

  // Tensors appear in the header in data order, packed with no gaps.
  const auto json = nlohmann::ordered_json::parse(header);
  std::vector<std::string> keys;
  for (const auto& [key, value] : json.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"__metadata__", "w", "b", "a"}));
  EXPECT_EQ(json["__metadata__"], (nlohmann::ordered_json{{"step", "12"}}));
  EXPECT_EQ(json["w"]["dtype"], "F32");
  EXPECT_EQ(json["w"]["shape"], (nlohmann::ordered_json{2, 3}));
  EXPECT_EQ(json["w"]["data_offsets"], (nlohmann::ordered_json{0, 24}));
  EXPECT_EQ(json["b"]["data_offsets"], (nlohmann::ordered_json{24, 25}));
  EXPECT_EQ(json["a"]["data_offsets"], (nlohmann::ordered_json{25, 33}));

  const size_t data = 8 + header_size;
  EXPECT_EQ(bytes.substr(data, 24), file.tensors[0].bytes);
  EXPECT_EQ(bytes.substr(data + 24, 1), file.tensors[1].bytes);
  EXPECT_EQ(bytes.substr(data + 25, 8), file.tensors[2].bytes);
}

constexpr const char* kPythonWriter = R"PY(
import json, struct, sys
# A safetensors file written by hand, its header keys deliberately in a different order from the
# data. Data layout: u8 [0, 6), i32 [6, 18), u16 [18, 22), f64 [22, 30), f32 [30, 46).
u8 = bytes([1, 2, 3, 250, 251, 252])
i32 = struct.pack('<3i', -7, 0, 2**31 - 1)
u16 = struct.pack('<2H', 65535, 1024)
f64 = struct.pack('<d', 3.141592653589793)
f32 = struct.pack('<4f', 0.5, -1.25, 3.0e38, -0.0)
header = {
    "zeta.f64": {"dtype": "F64", "shape": [], "data_offsets": [22, 30]},
    "alpha.u16": {"dtype": "U16", "shape": [2, 1], "data_offsets": [18, 22]},
    "__metadata__": {"writer": "python-by-hand", "note": "tau \u03c4"},
    "mid.i32": {"dtype": "I32", "shape": [3], "data_offsets": [6, 18]},
    "first.f32": {"dtype": "F32", "shape": [2, 2], "data_offsets": [30, 46]},
    "bytes.u8": {"dtype": "U8", "shape": [6], "data_offsets": [0, 6]},
}
text = json.dumps(header).encode('utf-8')
text += b' ' * ((8 - len(text) % 8) % 8)
with open(sys.argv[1], 'wb') as out:
    out.write(struct.pack('<Q', len(text)))
    out.write(text)
    out.write(u8 + i32 + u16 + f64 + f32)
)PY";

TEST(Safetensors, ReadsAFileWrittenByHandInPython) {
  if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "/usr/bin/python3 not installed";
  TempDir dir;
  test::write_text(dir / "writer.py", kPythonWriter);
  const fs::path path = dir / "from_python.safetensors";
  const dg::test::CommandResult result = run_python(dir / "writer.py", "'" + path.string() + "'");
  ASSERT_EQ(result.exit_code, 0) << result.output;

  const SafetensorsFile file = read_safetensors(path);
  std::vector<std::string> names;
  for (const auto& t : file.tensors) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"bytes.u8", "mid.i32", "alpha.u16", "zeta.f64", "first.f32"}));
  EXPECT_EQ(file.metadata, (std::map<std::string, std::string>{{"note", "tau τ"}, {"writer", "python-by-hand"}}));

  EXPECT_EQ(file.find("bytes.u8")->bytes, std::string("\x01\x02\x03\xfa\xfb\xfc", 6));
  EXPECT_EQ(file.find("mid.i32")->bytes, raw_bytes<int32_t>({-7, 0, 2147483647}));
  EXPECT_EQ(file.find("alpha.u16")->shape, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(file.find("alpha.u16")->bytes, raw_bytes<uint16_t>({65535, 1024}));
  EXPECT_TRUE(file.find("zeta.f64")->shape.empty());
  EXPECT_EQ(file.find("zeta.f64")->bytes, raw_bytes<double>({3.141592653589793}));
  EXPECT_EQ(file.find("first.f32")->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(file.find("first.f32")->bytes, raw_bytes<float>({0.5f, -1.25f, 3.0e38f, -0.0f}));
}

constexpr const char* kPythonReader = R"PY(
import json, struct, sys
# Reads a safetensors file by hand and prints each tensor's values, so the C++ side can compare.
raw = open(sys.argv[1], 'rb').read()
(n,) = struct.unpack('<Q', raw[:8])
assert n % 8 == 0, 'header not padded to 8'
header = json.loads(raw[8:8 + n].decode('utf-8'))
data = raw[8 + n:]
codes = {'F32': 'f', 'I32': 'i', 'U16': 'H', 'U8': 'B', 'F64': 'd', 'I64': 'q'}
print('meta', json.dumps(header.pop('__metadata__', {}), sort_keys=True))
for name, info in sorted(header.items(), key=lambda kv: kv[1]['data_offsets'][0]):
    b, e = info['data_offsets']
    code = codes[info['dtype']]
    count = (e - b) // struct.calcsize(code)
    values = struct.unpack('<%d%s' % (count, code), data[b:e])
    print(name, info['dtype'], info['shape'], ' '.join(repr(v) for v in values))
)PY";

TEST(Safetensors, FileWrittenHereIsReadByHandInPython) {
  if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "/usr/bin/python3 not installed";
  TempDir dir;
  SafetensorsFile file;
  file.tensors.push_back({"tok_emb.weight", "F32", {2, 2}, raw_bytes<float>({0.25f, -2.0f, 1024.0f, -0.0f})});
  file.tensors.push_back({"b", "U8", {1}, std::string("\x05", 1)});
  file.tensors.push_back({"counts", "I64", {2}, raw_bytes<int64_t>({-3, 9000000000})});
  file.tensors.push_back({"tokens", "U16", {3}, raw_bytes<uint16_t>({1, 2, 65535})});
  file.metadata = {{"format", "x"}, {"step", "7"}};
  const fs::path path = dir / "to_python.safetensors";
  write_safetensors(path, file);

  test::write_text(dir / "reader.py", kPythonReader);
  const dg::test::CommandResult result = run_python(dir / "reader.py", "'" + path.string() + "'");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output,
            "meta {\"format\": \"x\", \"step\": \"7\"}\n"
            "tok_emb.weight F32 [2, 2] 0.25 -2.0 1024.0 -0.0\n"
            "b U8 [1] 5\n"
            "counts I64 [2] -3 9000000000\n"
            "tokens U16 [3] 1 2 65535\n");
}

// --- every kind of damage gives its own error -------------------------------------------------

TEST(SafetensorsErrors, MissingFile) {
  TempDir dir;
  expect_read_error(dir / "nope.safetensors", {"no such file"});
}

TEST(SafetensorsErrors, FileShorterThanTheLengthField) {
  TempDir dir;
  test::write_text(dir / "short.safetensors", "abc");
  expect_read_error(dir / "short.safetensors", {"3 bytes", "shorter than the 8-byte header length"});
  test::write_text(dir / "zero.safetensors", "");
  expect_read_error(dir / "zero.safetensors", {"0 bytes"});
}

TEST(SafetensorsErrors, HeaderLengthBeyondTheFile) {
  TempDir dir;
  test::write_text(dir / "long.safetensors", u64_le(1000) + "{}      ");
  expect_read_error(dir / "long.safetensors", {"header length 1000", "runs past the end of the file (16 bytes)"});
  test::write_text(dir / "huge.safetensors", u64_le(~0ull) + "{}      ");
  expect_read_error(dir / "huge.safetensors", {"runs past the end"});
}

TEST(SafetensorsErrors, HeaderNotJson) {
  TempDir dir;
  expect_read_error(write_raw(dir, "text.safetensors", "{\"a\": {\"dtype\": ", ""), {"header is not valid JSON"});
  expect_read_error(write_raw(dir, "array.safetensors", "[1, 2, 3]", ""), {"not an object"});
}

TEST(SafetensorsErrors, OffsetsOutOfRange) {
  TempDir dir;
  const auto path = write_raw(dir, "range.safetensors",
                              R"({"w": {"dtype": "F32", "shape": [25], "data_offsets": [0, 100]}})", std::string(8, '\0'));
  expect_read_error(path, {"tensor \"w\"", "[0, 100]", "out of range", "8 bytes"});
  const auto reversed = write_raw(dir, "reversed.safetensors",
                                  R"({"w": {"dtype": "U8", "shape": [0], "data_offsets": [4, 2]}})", std::string(4, '\0'));
  expect_read_error(reversed, {"tensor \"w\"", "end before they begin"});
  const auto negative = write_raw(dir, "negative.safetensors",
                                  R"({"w": {"dtype": "U8", "shape": [4], "data_offsets": [-4, 0]}})", std::string(4, '\0'));
  expect_read_error(negative, {"tensor \"w\"", "not a pair of non-negative integers"});
}

TEST(SafetensorsErrors, OffsetsOverlapping) {
  TempDir dir;
  const auto path = write_raw(dir, "overlap.safetensors",
                              R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                              R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                              std::string(12, '\0'));
  expect_read_error(path, {"tensor \"b\"", "overlaps tensor \"a\""});
}

TEST(SafetensorsErrors, OffsetsNotCoveringTheBuffer) {
  TempDir dir;
  const auto gap = write_raw(dir, "gap.safetensors",
                             R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
                             R"( "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
                             std::string(12, '\0'));
  expect_read_error(gap, {"bytes 4..8 belong to no tensor", "\"b\""});
  const auto trailing = write_raw(dir, "trailing.safetensors",
                                  R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", std::string(9, '\0'));
  expect_read_error(trailing, {"cover 4 bytes", "holds 9"});
  const auto leading = write_raw(dir, "leading.safetensors",
                                 R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", std::string(8, '\0'));
  expect_read_error(leading, {"bytes 0..4 belong to no tensor", "\"a\""});
}

TEST(SafetensorsErrors, UnknownDtype) {
  TempDir dir;
  const auto path = write_raw(dir, "dtype.safetensors",
                              R"({"w": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}})", std::string(4, '\0'));
  expect_read_error(path, {"tensor \"w\"", "unknown dtype \"F33\"", "F32"});
}

TEST(SafetensorsErrors, ShapeTimesDtypeSizeNotTheByteLength) {
  TempDir dir;
  const auto path = write_raw(dir, "size.safetensors",
                              R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", std::string(8, '\0'));
  expect_read_error(path, {"tensor \"w\"", "needs 12 bytes", "hold 8"});
  const auto overflow = write_raw(dir, "overflow.safetensors",
                                  R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})", "");
  expect_read_error(overflow, {"tensor \"w\"", "too many elements"});
}

TEST(SafetensorsErrors, MalformedEntriesAndMetadata) {
  TempDir dir;
  expect_read_error(write_raw(dir, "nofield.safetensors", R"({"w": {"dtype": "F32", "shape": [0]}})", ""),
                    {"tensor \"w\"", "no \"data_offsets\""});
  expect_read_error(write_raw(dir, "shape.safetensors", R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}})", ""),
                    {"tensor \"w\"", "non-negative integer"});
  expect_read_error(write_raw(dir, "entry.safetensors", R"({"w": 5})", ""), {"tensor \"w\"", "not a JSON object"});
  expect_read_error(write_raw(dir, "meta.safetensors", R"({"__metadata__": {"step": 5}})", ""),
                    {"metadata \"step\" is not a string"});
}

// --- the writer refuses what it cannot write correctly -----------------------------------------

void expect_write_error(const fs::path& path, const SafetensorsFile& file, const std::string& fragment) {
  try {
    write_safetensors(path, file);
    ADD_FAILURE() << "writing should have failed with " << fragment;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(path));
}

TEST(SafetensorsWriter, RejectsInconsistentTensors) {
  TempDir dir;
  const fs::path path = dir / "bad.safetensors";
  SafetensorsFile wrong_size;
  wrong_size.tensors.push_back({"w", "F32", {2}, std::string(7, '\0')});
  expect_write_error(path, wrong_size, "tensor \"w\" has 7 bytes but shape [2] of F32 needs 8");
  SafetensorsFile duplicate;
  duplicate.tensors.push_back({"w", "U8", {1}, "a"});
  duplicate.tensors.push_back({"w", "U8", {1}, "b"});
  expect_write_error(path, duplicate, "\"w\" appears twice");
  SafetensorsFile unknown;
  unknown.tensors.push_back({"w", "Q4", {1}, "a"});
  expect_write_error(path, unknown, "unknown dtype \"Q4\"");
  SafetensorsFile reserved;
  reserved.tensors.push_back({"__metadata__", "U8", {1}, "a"});
  expect_write_error(path, reserved, "reserved");
  SafetensorsFile negative;
  negative.tensors.push_back({"w", "U8", {-1}, ""});
  expect_write_error(path, negative, "invalid shape [-1]");
}

TEST(SafetensorsWriter, FailureHalfWayLeavesThePreviousFileAndNoTemporary) {
  TempDir dir;
  const fs::path path = dir / "model.safetensors";
  write_safetensors(path, mixed_file());
  const std::string before = test::read_text(path);

  const std::vector<float> first(4096, 1.0f);
  const std::vector<TensorBytesView> views{{"first", "F32", {4096}, first.data()}, {"second", "F32", {16}, nullptr}};
  try {
    write_safetensors(path, views, {});
    ADD_FAILURE() << "a null data pointer must fail the write";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor \"second\" has no data"), std::string::npos) << e.what();
  }
  EXPECT_EQ(test::read_text(path), before);
  std::vector<std::string> entries;
  for (const auto& entry : fs::directory_iterator(dir.path())) entries.push_back(entry.path().filename().string());
  EXPECT_EQ(entries, (std::vector<std::string>{"model.safetensors"}));
}

}  // namespace
}  // namespace dg
