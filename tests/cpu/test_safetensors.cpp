// net/safetensors: the writer's bytes read back; every refusal of the reader on
// a file built byte by byte, its message naming the fact; F16 / BF16 to float
// exactly; the committed fixtures written by Python (analysis.export_weights'
// numpy writer, and the safetensors package itself), read and written back
// byte-identical by the C++ writer.
#include "net/safetensors.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>

#include "tests/common/temp_dir.h"

namespace btc::net {
namespace {
namespace fs = std::filesystem;

using test::TempDir;

std::vector<uint8_t> le64(uint64_t n) {
  std::vector<uint8_t> out(8);
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<uint8_t>(n >> (8 * i));
  return out;
}

// A file: 8-byte length `header_len` (by default the header's size), the header, the data.
std::vector<uint8_t> file_bytes(const std::string& header, size_t data_bytes,
                                std::optional<uint64_t> header_len = std::nullopt) {
  std::vector<uint8_t> out = le64(header_len.value_or(header.size()));
  out.resize(8 + header.size());
  if (!header.empty()) std::memcpy(out.data() + 8, header.data(), header.size());
  for (size_t i = 0; i < data_bytes; ++i) out.push_back(static_cast<uint8_t>(i));
  return out;
}

std::string write_file(const TempDir& dir, const std::vector<uint8_t>& bytes, const std::string& name = "w.safetensors") {
  const std::string path = dir.file(name);
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
  return path;
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// The message of the error that opening `bytes` as a file raises, or "" (then
// the test fails). It must start with the path.
std::string open_error(const std::vector<uint8_t>& bytes) {
  TempDir dir;
  const std::string path = write_file(dir, bytes);
  try {
    SafetensorsFile::open(path);
  } catch (const SafetensorsError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    return msg;
  }
  ADD_FAILURE() << "the file opened";
  return "";
}

std::string open_error(const std::string& header, size_t data_bytes) { return open_error(file_bytes(header, data_bytes)); }

#define EXPECT_HAS(haystack, needle) EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

const char* kOneF32 = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";

// ---------------------------------------------------------------- writing and reading back

std::vector<uint8_t> raw(std::initializer_list<int> v) {
  std::vector<uint8_t> out;
  for (int b : v) out.push_back(static_cast<uint8_t>(b));
  return out;
}

TEST(Read, RoundTripThroughTheWriter) {
  TempDir dir;
  const std::vector<std::pair<std::string, OwnedTensor>> tensors = {
      {"conv1.weight", f32_tensor({2, 1, 1, 2}, {0.5f, -1.0f, 2.0f, -0.0f})},
      {"h", OwnedTensor{Dtype::F16, {3}, raw({0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B})}},
      {"scalar", OwnedTensor{Dtype::F64, {}, raw({0, 0, 0, 0, 0, 0, 0xF8, 0x3F})}},  // 1.5
      {"empty", OwnedTensor{Dtype::I32, {0, 4}, {}}},
      {"mask", OwnedTensor{Dtype::BOOL, {2}, raw({1, 0})}},
      {"name \"quoted\"\n\xc3\xa9", OwnedTensor{Dtype::U8, {1}, raw({7})}},
  };
  const std::map<std::string, std::string> metadata = {{"format", "btcbench.weights.v1"}, {"note", "a \"b\"\n"}};
  const std::string path = dir.file("w.safetensors");
  write_safetensors(path, tensors, metadata);
  const SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.path(), path);
  EXPECT_EQ(f.metadata(), metadata);
  ASSERT_EQ(f.tensors().size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    const TensorView* v = f.find(name);
    ASSERT_NE(v, nullptr) << name;
    EXPECT_EQ(v->dtype, t.dtype) << name;
    EXPECT_EQ(v->shape, t.shape) << name;
    ASSERT_EQ(v->bytes, t.bytes.size()) << name;
    EXPECT_EQ(std::vector<uint8_t>(v->data, v->data + v->bytes), t.bytes) << name;
    // The writer lays the data out widest first: each tensor starts at a multiple of its element size.
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v->data) % dtype_size_bytes(v->dtype), 0u) << name;
  }
  EXPECT_EQ(f.find("scalar")->numel(), 1);
  EXPECT_EQ(f.find("empty")->numel(), 0);
  EXPECT_EQ(f.to_f32(*f.find("scalar")), std::vector<float>{1.5f});
  EXPECT_EQ(f.to_f32(*f.find("h")), (std::vector<float>{1.0f, -2.0f, 65504.0f}));
  EXPECT_TRUE(f.to_f32(*f.find("empty")).empty());
  // tensors() is in data order.
  for (size_t i = 1; i < f.tensors().size(); ++i) EXPECT_LE(f.tensors()[i - 1].data, f.tensors()[i].data);
  // Serializing what was read gives the file back.
  std::vector<std::pair<std::string, OwnedTensor>> again;
  for (const TensorView& v : f.tensors())
    again.push_back({v.name, OwnedTensor{v.dtype, v.shape, std::vector<uint8_t>(v.data, v.data + v.bytes)}});
  EXPECT_EQ(serialize_safetensors(again, f.metadata()), read_file(path));
}

TEST(Read, HeaderIsPaddedWithSpacesToAMultipleOf8) {
  const std::vector<uint8_t> bytes = serialize_safetensors({{"a", f32_tensor({1}, {1.0f})}});
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(bytes[static_cast<size_t>(i)]) << (8 * i);
  EXPECT_EQ(n % 8, 0u);
  const std::string header(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(n));
  EXPECT_EQ(header, std::string(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})") + "  ");  // 54 + 2
  EXPECT_EQ(bytes.size(), 8 + n + 4);
}

TEST(Read, ScalarAndEmptyTensorsByHand) {
  TempDir dir;
  const std::string header =
      R"({"s":{"dtype":"I16","shape":[],"data_offsets":[0,2]},"e":{"dtype":"F32","shape":[3,0],"data_offsets":[2,2]},)"
      R"("z":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}})";
  std::vector<uint8_t> bytes = file_bytes(header, 0);
  bytes.push_back(0xFE);  // -2 as I16
  bytes.push_back(0xFF);
  const SafetensorsFile f = SafetensorsFile::open(write_file(dir, bytes));
  EXPECT_EQ(f.get("s").shape, std::vector<int64_t>{});
  EXPECT_EQ(f.to_f32(f.get("s")), std::vector<float>{-2.0f});
  EXPECT_EQ(f.get("e").numel(), 0);
  EXPECT_EQ(f.get("e").bytes, 0u);
  EXPECT_EQ(f.get("z").bytes, 0u);
}

TEST(Read, NoTensorsAndTrailingWhitespace) {
  TempDir dir;
  EXPECT_TRUE(SafetensorsFile::open(write_file(dir, file_bytes("{}", 0))).tensors().empty());
  const SafetensorsFile f = SafetensorsFile::open(write_file(dir, file_bytes("{\"__metadata__\":{\"k\":\"v\"}}  \n\t\r ", 0)));
  EXPECT_TRUE(f.tensors().empty());
  EXPECT_EQ(f.metadata().at("k"), "v");
  // The reference accepts trailing whitespace of every JSON kind after the object.
  EXPECT_EQ(SafetensorsFile::open(write_file(dir, file_bytes(std::string(kOneF32) + "      ", 4))).tensors().size(), 1u);
}

TEST(Read, UnalignedDataIsCopiedNotCast) {
  // A 1-byte header pad leaves the F32 and F64 data at odd addresses.
  TempDir dir;
  const std::string header =
      R"({"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"d":{"dtype":"F64","shape":[1],"data_offsets":[1,9]},)"
      R"("f":{"dtype":"F32","shape":[2],"data_offsets":[9,17]}} )";
  std::vector<uint8_t> bytes = file_bytes(header, 0);
  bytes.push_back(9);
  const double d = -0.1;
  const float fs[2] = {3.25f, -7.5f};
  bytes.insert(bytes.end(), reinterpret_cast<const uint8_t*>(&d), reinterpret_cast<const uint8_t*>(&d) + 8);
  bytes.insert(bytes.end(), reinterpret_cast<const uint8_t*>(fs), reinterpret_cast<const uint8_t*>(fs) + 8);
  const SafetensorsFile f = SafetensorsFile::open(write_file(dir, bytes));
  EXPECT_EQ(f.to_f32(f.get("d")), std::vector<float>{static_cast<float>(-0.1)});
  EXPECT_EQ(f.to_f32(f.get("f")), (std::vector<float>{3.25f, -7.5f}));
  EXPECT_EQ(f.to_f32(f.get("b")), std::vector<float>{9.0f});
}

TEST(Read, FindGetAndReadF32) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  write_safetensors(path, {{"conv1.weight", f32_tensor({1, 1, 1, 2}, {1.0f, -1.0f})}});
  const SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.find("nope"), nullptr);
  EXPECT_EQ(f.read_f32("conv1.weight", {1, 1, 1, 2}), (std::vector<float>{1.0f, -1.0f}));
  try {
    f.get("conv2.weight");
    ADD_FAILURE();
  } catch (const SafetensorsError& e) {
    EXPECT_EQ(std::string(e.what()), path + ": no tensor 'conv2.weight' (the file has 1 tensors)");
  }
  try {
    f.read_f32("conv1.weight", {1, 1, 2, 1});
    ADD_FAILURE();
  } catch (const SafetensorsError& e) {
    EXPECT_EQ(std::string(e.what()), path + ": tensor 'conv1.weight': shape [1, 1, 1, 2] where [1, 1, 2, 1] expected");
  }
}

TEST(Read, MovingKeepsTheViewsValid) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  write_safetensors(path, {{"a", f32_tensor({2}, {1.0f, 2.0f})}});
  SafetensorsFile f = SafetensorsFile::open(path);
  const uint8_t* before = f.get("a").data;
  SafetensorsFile g = std::move(f);
  EXPECT_EQ(g.get("a").data, before);
  EXPECT_EQ(g.to_f32(g.get("a")), (std::vector<float>{1.0f, 2.0f}));
}

TEST(Read, AFolderIsNoFile) {
  TempDir dir;
  try {
    SafetensorsFile::open(dir.file(""));
    ADD_FAILURE();
  } catch (const SafetensorsError& e) {
    EXPECT_HAS(e.what(), "not a regular file (a folder)");
  }
}

TEST(Read, AMissingFileSaysSo) {
  TempDir dir;
  try {
    SafetensorsFile::open(dir.file("missing.safetensors"));
    ADD_FAILURE();
  } catch (const SafetensorsError& e) {
    EXPECT_EQ(std::string(e.what()), dir.file("missing.safetensors") + ": cannot open: No such file or directory");
  }
}

// ---------------------------------------------------------------- refusals: the length and the header's start

TEST(Corrupt, FewerThan8Bytes) {
  EXPECT_HAS(open_error(raw({1, 0, 0, 0, 0})), "not a safetensors file: 5 bytes, fewer than the 8 of the header length");
  EXPECT_HAS(open_error(std::vector<uint8_t>{}), "0 bytes");
}

TEST(Corrupt, HeaderLengthOverTheLimit) {
  const std::string msg = open_error(file_bytes("{}", 0, 9'000'000'000'000'000'000ull));
  EXPECT_HAS(msg, "not a safetensors file: header length 9000000000000000000 exceeds the limit of 100000000 bytes");
  EXPECT_HAS(msg, "the file size is 10");
  EXPECT_HAS(open_error(file_bytes("{}", 0, 100'000'001)), "header length 100000001 exceeds the limit");
}

TEST(Corrupt, HeaderLengthPastTheEndOfTheFile) {
  EXPECT_HAS(open_error(file_bytes(kOneF32, 4, 1234)), "header length 1234 exceeds the file size 66 (8 + 1234 = 1242 bytes needed)");
}

TEST(Corrupt, HeaderNotStartingWithABrace) {
  EXPECT_HAS(open_error(" {}", 0), "not a safetensors file: the header does not start with '{'");
  EXPECT_HAS(open_error("[]", 0), "does not start with '{'");
  EXPECT_HAS(open_error("", 0), "does not start with '{' (it is empty)");
}

TEST(Corrupt, HeaderNotUtf8) {
  EXPECT_HAS(open_error("{\"a\xff\":1}", 0), "the header is not valid UTF-8 (at header byte 3)");
  EXPECT_HAS(open_error("{\"\xed\xa0\x80\":1}", 0), "not valid UTF-8");  // an encoded surrogate
}

TEST(Corrupt, InvalidJson) {
  EXPECT_HAS(open_error("{\"a\":", 0), "invalid JSON header: JSON parse error at 1:6");
  EXPECT_HAS(open_error("{} {}", 0), "invalid JSON header");
  EXPECT_HAS(open_error(std::string("{}\0\0", 4), 0), "invalid JSON header");  // NUL padding is no whitespace
}

// ---------------------------------------------------------------- refusals: the entries

TEST(Corrupt, EntryNotAnObject) {
  EXPECT_HAS(open_error(R"({"a":5})", 0), "tensor 'a': its entry is a number, not an object");
  EXPECT_HAS(open_error(R"({"a":[]})", 0), "tensor 'a': its entry is an array, not an object");
}

TEST(Corrupt, EntryMissingAField) {
  EXPECT_HAS(open_error(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", 4), "tensor 'a': no 'dtype' in its entry");
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", 4), "tensor 'a': no 'shape' in its entry");
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F32","shape":[1]}})", 4), "tensor 'a': no 'data_offsets' in its entry");
}

TEST(Corrupt, EntryFieldsOfTheWrongType) {
  EXPECT_HAS(open_error(R"({"a":{"dtype":32,"shape":[1],"data_offsets":[0,4]}})", 4),
             "tensor 'a': dtype is a number, not a string");
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})", 4),
             "tensor 'a': shape is a string, not an array of integers");
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":{"b":0}}})", 4),
             "tensor 'a': data_offsets is an object, not an array [BEGIN, END]");
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}})", 4),
             "tensor 'a': shape entry is a string, not an integer");
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F32","shape":[null],"data_offsets":[0,4]}})", 4),
             "tensor 'a': shape entry is null, not an integer");
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,true]}})", 4),
             "tensor 'a': data_offsets entry is a bool, not an integer");
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4),
             "tensor 'a': data_offsets has 1 entries, not 2 [BEGIN, END]");
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}})", 4),
             "data_offsets has 3 entries");
}

TEST(Corrupt, UnknownKeyInAnEntry) {
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"stride":[1]}})", 4),
             "tensor 'a': unknown key 'stride' (an entry has dtype, shape and data_offsets)");
}

TEST(Corrupt, NegativeShapeEntry) {
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
             "tensor 'a': shape entry -1 is negative");
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 4),
             "tensor 'a': data_offsets entry -4 is negative");
}

TEST(Corrupt, NonIntegerShapeEntry) {
  for (const char* n : {"1.5", "1.0", "1e0", "01", "NaN", "Infinity"}) {
    const std::string header = std::string(R"({"a":{"dtype":"F32","shape":[)") + n + R"(],"data_offsets":[0,4]}})";
    EXPECT_HAS(open_error(header, 4), std::string("tensor 'a': shape entry ") + n + " is not a plain integer (digits only)");
  }
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.0]}})", 4),
             "data_offsets entry 4.0 is not a plain integer");
}

TEST(Corrupt, ShapeEntryTooLarge) {
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F32","shape":[0,18446744073709551616],"data_offsets":[0,0]}})", 0),
             "shape entry 18446744073709551616 does not fit in 64 bits");
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F32","shape":[0,9223372036854775808],"data_offsets":[0,0]}})", 0),
             "shape entry 9223372036854775808 exceeds 2^63 - 1");
}

TEST(Corrupt, ByteCountOverflows) {
  // 2^62 * 8 elements overflow 64 bits before the 0 is reached (the reference refuses this too).
  EXPECT_HAS(open_error(R"({"a":{"dtype":"U8","shape":[4611686018427387904,8,0],"data_offsets":[0,0]}})", 0),
             "tensor 'a': U8 [4611686018427387904, 8, 0] has more than 2^64 bytes");
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0),
             "F32 [4611686018427387904] has more than 2^64 bytes");
}

TEST(Corrupt, UnsupportedDtype) {
  for (const char* d : {"F8_E4M3", "F8_E5M2", "F4", "C64", "f32", "float32"}) {
    const std::string header = std::string(R"({"a":{"dtype":")") + d + R"(","shape":[1],"data_offsets":[0,1]}})";
    const std::string msg = open_error(header, 1);
    EXPECT_HAS(msg, std::string("tensor 'a': unsupported dtype '") + d + "'");
    EXPECT_HAS(msg, "supported: BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64");
  }
}

TEST(Corrupt, MetadataNotAnObjectOfStrings) {
  EXPECT_HAS(open_error(R"({"__metadata__":["a"]})", 0), "__metadata__ is an array, not an object of strings");
  EXPECT_HAS(open_error(R"({"__metadata__":null})", 0), "__metadata__ is null, not an object of strings");
  EXPECT_HAS(open_error(R"({"__metadata__":{"epoch":3}})", 0),
             "__metadata__ is not an object of strings: 'epoch' is a number");
  EXPECT_HAS(open_error(R"({"__metadata__":{"a":{"b":"c"}}})", 0), "'a' is an object");
}

// ---------------------------------------------------------------- refusals: the layout of the data

TEST(Corrupt, EndBeforeBegin) {
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}})", 4),
             "tensor 'a': data_offsets [4, 0] end before they begin");
}

TEST(Corrupt, ByteCountIsNotNumelTimesSize) {
  EXPECT_HAS(open_error(R"({"fc.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 20),
             "tensor 'fc.weight': data_offsets [0, 20] hold 20 bytes, but F32 [2, 3] needs 24");
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F16","shape":[],"data_offsets":[0,4]}})", 4),
             "hold 4 bytes, but F16 [] needs 2");
}

TEST(Corrupt, DataNotStartingAtZero) {
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
             "tensor 'a': data_offsets [4, 8] begin at 4, not 0: a hole at the start of the data");
}

TEST(Corrupt, HoleBetweenTensors) {
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                        R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12),
             "tensor 'b': data_offsets [8, 12] leave a hole of 4 bytes after tensor 'a' [0, 4]");
}

TEST(Corrupt, OverlappingTensors) {
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
             "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]");
  // The same range twice is an overlap too, whatever the header's order.
  EXPECT_HAS(open_error(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                        R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4),
             "tensor 'b': data_offsets [0, 4] overlap tensor 'a' [0, 4]");
}

TEST(Corrupt, BytesAfterTheLastTensor) {
  EXPECT_HAS(open_error(kOneF32, 5), "the tensors end at data byte 4, but the file has 5 data bytes: 1 bytes after the last tensor");
  EXPECT_HAS(open_error("{}", 3), "the tensors end at data byte 0, but the file has 3 data bytes");
}

TEST(Corrupt, Truncated) {
  EXPECT_HAS(open_error(kOneF32, 3), "the file is truncated: the tensors need 4 data bytes after the header, the file has 3");
}

// ---------------------------------------------------------------- refusals: what the parsed tree cannot show

TEST(Corrupt, DuplicateTensorName) {
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                        R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
             "duplicate tensor name 'a' in the header");
  // The same name spelled with an escape is the same name.
  EXPECT_HAS(open_error(R"({"ab":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                        R"("a\u0062":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
             "duplicate tensor name 'ab'");
  EXPECT_HAS(open_error(R"({"__metadata__":{},"__metadata__":{}})", 0), "duplicate tensor name '__metadata__'");
}

TEST(Corrupt, DuplicateKeyInsideAnEntry) {
  EXPECT_HAS(open_error(R"({"a":{"dtype":"F64","dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4),
             "duplicate key 'dtype' in the header entry of 'a'");
  EXPECT_HAS(open_error(R"({"__metadata__":{"k":"1","k":"2"}})", 0),
             "duplicate key 'k' in the header entry of '__metadata__'");
}

TEST(Corrupt, SurrogateEscape) {
  EXPECT_HAS(open_error(R"({"__metadata__":{"k":"\ud83d\ude00"}})", 0),
             "the header has the surrogate escape \\ud83d, which this reader does not decode");
}

TEST(Corrupt, MessagesShowBadBytesEscaped) {
  EXPECT_HAS(open_error("{\"a\\u0001\":5}", 0), "tensor 'a\\x01': its entry is a number");
}

TEST(Corrupt, EveryByteOfAHeaderChangedGivesASafetensorsErrorOrAValidFile) {
  // Each header byte set to each of the bytes JSON gives meaning to (and two
  // that it does not): the reader throws SafetensorsError or reads a
  // consistent file, never another exception, whatever it was given.
  const std::vector<uint8_t> good =
      serialize_safetensors({{"a", f32_tensor({2}, {1.0f, 2.0f})}, {"b", OwnedTensor{Dtype::F16, {1, 1}, raw({0, 0x3C})}}},
                            {{"k", "v\"w"}});
  const size_t header_end = good.size() - 10;
  int refused = 0, read = 0;
  for (size_t i = 8; i < header_end; ++i) {
    for (char c : std::string("{}[]:,\"\\ 0123456789-.eEtfnuNaI\x01\xff")) {
      std::vector<uint8_t> bad = good;
      bad[i] = static_cast<uint8_t>(c);
      try {
        const SafetensorsFile f = SafetensorsFile::parse("m", bad);
        for (const TensorView& t : f.tensors()) EXPECT_EQ(t.bytes, static_cast<size_t>(t.numel()) * dtype_size_bytes(t.dtype));
        ++read;
      } catch (const SafetensorsError& e) {
        EXPECT_EQ(std::string(e.what()).rfind("m: ", 0), 0u);
        ++refused;
      } catch (const std::exception& e) {
        ADD_FAILURE() << "byte " << i << " = '" << c << "': " << e.what();
      }
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(read, 0);  // e.g. a metadata character changed
}

// ---------------------------------------------------------------- conversions

TEST(Convert, F16Exact) {
  EXPECT_EQ(f16_to_f32(0x3C00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xC000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x3555), 0.333251953125f);
  EXPECT_EQ(f16_to_f32(0x7BFF), 65504.0f);                      // largest finite
  EXPECT_EQ(f16_to_f32(0x0400), std::ldexp(1.0f, -14));         // smallest normal
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));         // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x03FF), std::ldexp(1023.0f, -24));      // largest subnormal
  EXPECT_EQ(f16_to_f32(0x8001), -std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_f32(0x0000), 0.0f);
  EXPECT_FALSE(std::signbit(f16_to_f32(0x0000)));
  EXPECT_TRUE(std::signbit(f16_to_f32(0x8000)));                // -0 stays -0 (binarized to +1 by w >= 0)
  EXPECT_EQ(f16_to_f32(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(f16_to_f32(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7E00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7C01)));                  // a signalling NaN stays NaN, not inf
  // Every finite half against the definition: (-1)^s * (exponent ? 1024 + m : m) * 2^(max(exponent, 1) - 25).
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const uint32_t exponent = (bits >> 10) & 0x1F, m = bits & 0x3FF;
    if (exponent == 0x1F) continue;
    const float magnitude = std::ldexp(static_cast<float>(exponent ? 1024 + m : m),
                                       static_cast<int>(std::max(exponent, 1u)) - 25);
    EXPECT_EQ(f16_to_f32(static_cast<uint16_t>(bits)), (bits & 0x8000) ? -magnitude : magnitude) << bits;
  }
}

TEST(Convert, BF16Exact) {
  EXPECT_EQ(bf16_to_f32(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_f32(0xC040), -3.0f);
  EXPECT_EQ(bf16_to_f32(0x3EAB), 0.333984375f);
  EXPECT_EQ(bf16_to_f32(0x7F7F), 3.3895313892515355e38f);       // largest finite
  EXPECT_EQ(bf16_to_f32(0x0001), std::ldexp(1.0f, -133));       // smallest subnormal
  EXPECT_EQ(bf16_to_f32(0x7F80), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(bf16_to_f32(0x7FC0)));
  EXPECT_TRUE(std::signbit(bf16_to_f32(0x8000)));
}

TEST(Convert, EveryDtypeThroughAFile) {
  TempDir dir;
  auto le = [](std::initializer_list<int> v) { return raw(v); };
  const std::vector<std::pair<std::string, OwnedTensor>> tensors = {
      {"f16", OwnedTensor{Dtype::F16, {2}, le({0x55, 0x35, 0x01, 0x00})}},
      {"bf16", OwnedTensor{Dtype::BF16, {2}, le({0xAB, 0x3E, 0x40, 0xC0})}},
      {"f64", OwnedTensor{Dtype::F64, {1}, le({0x9A, 0x99, 0x99, 0x99, 0x99, 0x99, 0xB9, 0x3F})}},  // 0.1
      {"i8", OwnedTensor{Dtype::I8, {2}, le({0x80, 0x7F})}},
      {"u8", OwnedTensor{Dtype::U8, {1}, le({0xFF})}},
      {"i16", OwnedTensor{Dtype::I16, {1}, le({0x00, 0x80})}},
      {"u16", OwnedTensor{Dtype::U16, {1}, le({0xFF, 0xFF})}},
      {"i32", OwnedTensor{Dtype::I32, {1}, le({0xF9, 0xFF, 0xFF, 0xFF})}},
      {"u32", OwnedTensor{Dtype::U32, {1}, le({0x40, 0xE2, 0x01, 0x00})}},
      {"i64", OwnedTensor{Dtype::I64, {1}, le({0xFB, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})}},
      {"u64", OwnedTensor{Dtype::U64, {1}, le({0, 0, 0, 0, 0, 0, 0x20, 0})}},  // 2^53
      {"mask", OwnedTensor{Dtype::BOOL, {1}, le({1})}},
  };
  const std::string path = dir.file("w.safetensors");
  write_safetensors(path, tensors);
  const SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.to_f32(f.get("f16")), (std::vector<float>{0.333251953125f, std::ldexp(1.0f, -24)}));
  EXPECT_EQ(f.to_f32(f.get("bf16")), (std::vector<float>{0.333984375f, -3.0f}));
  EXPECT_EQ(f.to_f32(f.get("f64")), std::vector<float>{0.1f});  // rounded to nearest
  EXPECT_EQ(f.to_f32(f.get("i8")), (std::vector<float>{-128.0f, 127.0f}));
  EXPECT_EQ(f.to_f32(f.get("u8")), std::vector<float>{255.0f});
  EXPECT_EQ(f.to_f32(f.get("i16")), std::vector<float>{-32768.0f});
  EXPECT_EQ(f.to_f32(f.get("u16")), std::vector<float>{65535.0f});
  EXPECT_EQ(f.to_f32(f.get("i32")), std::vector<float>{-7.0f});
  EXPECT_EQ(f.to_f32(f.get("u32")), std::vector<float>{123456.0f});
  EXPECT_EQ(f.to_f32(f.get("i64")), std::vector<float>{-5.0f});
  EXPECT_EQ(f.to_f32(f.get("u64")), std::vector<float>{9007199254740992.0f});
  try {
    f.to_f32(f.get("mask"));
    ADD_FAILURE();
  } catch (const SafetensorsError& e) {
    EXPECT_EQ(std::string(e.what()), path + ": tensor 'mask': dtype BOOL has no float value (to_f32 reads floats and integers)");
  }
}

TEST(Convert, DtypeNamesAndSizes) {
  EXPECT_STREQ(dtype_name(Dtype::BF16), "BF16");
  EXPECT_EQ(dtype_size_bytes(Dtype::BF16), 2u);
  EXPECT_EQ(dtype_size_bytes(Dtype::U64), 8u);
  EXPECT_EQ(dtype_size_bytes(Dtype::BOOL), 1u);
  EXPECT_EQ(dtype_from_name("I16"), Dtype::I16);
  EXPECT_EQ(dtype_from_name("F8_E4M3"), std::nullopt);
  EXPECT_EQ(shape_string({}), "[]");
  EXPECT_EQ(shape_string({64, 3, 7, 7}), "[64, 3, 7, 7]");
}

// ---------------------------------------------------------------- the writer

TEST(Write, ReplacesAtomicallyAndLeavesNoTemporaryFile) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  std::ofstream(path) << "old";
  write_safetensors(path, {{"a", f32_tensor({1}, {2.0f})}}, {{"k", "v"}});
  EXPECT_EQ(SafetensorsFile::open(path).metadata().at("k"), "v");
  EXPECT_EQ(dir.names(), std::vector<std::string>{"w.safetensors"});
}

TEST(Write, AnUnwritableFolderSaysSo) {
  TempDir dir;
  const std::string path = dir.file("missing/w.safetensors");
  try {
    write_safetensors(path, {{"a", f32_tensor({1}, {2.0f})}});
    ADD_FAILURE();
  } catch (const SafetensorsError& e) {
    EXPECT_HAS(e.what(), path + ": cannot create '" + path + ".tmp.");
    EXPECT_HAS(e.what(), "No such file or directory");
  }
}

TEST(Write, RefusesWhatTheReaderWouldRefuse) {
  auto error = [](const std::vector<std::pair<std::string, OwnedTensor>>& t) -> std::string {
    try {
      serialize_safetensors(t);
    } catch (const SafetensorsError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_HAS(error({{"a", f32_tensor({1}, {1.0f})}, {"a", f32_tensor({1}, {1.0f})}}), "duplicate tensor name 'a'");
  EXPECT_HAS(error({{"__metadata__", f32_tensor({1}, {1.0f})}}), "'__metadata__' is reserved");
  EXPECT_HAS(error({{"a", f32_tensor({3}, {1.0f, 2.0f})}}), "tensor 'a': 8 bytes, but F32 [3] needs 12");
  EXPECT_HAS(error({{"a", OwnedTensor{Dtype::F32, {-1}, {}}}}), "tensor 'a': negative shape entry -1");
  EXPECT_HAS(error({{"a", OwnedTensor{Dtype::F32, {int64_t{1} << 62, 4}, {}}}}), "has more than 2^64 bytes");
  EXPECT_HAS(error({{"a\xff", f32_tensor({1}, {1.0f})}}), "tensor name 'a\\xff' is not valid UTF-8");
}

// ---------------------------------------------------------------- files written by Python

std::string fixture(const std::string& name) { return std::string(BTC_SOURCE_DIR) + "/tests/fixtures/weights/" + name; }

std::vector<std::pair<std::string, OwnedTensor>> owned(const SafetensorsFile& f) {
  std::vector<std::pair<std::string, OwnedTensor>> out;
  for (const TensorView& v : f.tensors())
    out.push_back({v.name, OwnedTensor{v.dtype, v.shape, std::vector<uint8_t>(v.data, v.data + v.bytes)}});
  return out;
}

TEST(PythonFile, TinyFromTheExporter) {
  // analysis.export_weights' numpy writer (tests/analysis/test_export_weights.py: TINY_STATE).
  const SafetensorsFile f = SafetensorsFile::open(fixture("tiny.safetensors"));
  EXPECT_EQ(f.metadata(), (std::map<std::string, std::string>{{"btcbench_model", "tiny"},
                                                              {"format", "btcbench.weights.v1"}}));
  ASSERT_EQ(f.tensors().size(), 6u);
  const std::vector<float> w = f.read_f32("conv1.weight", {2, 1, 2, 2});
  EXPECT_EQ(w, (std::vector<float>{0.5f, -1.0f, 2.0f, -0.25f, 0.0f, -0.0f, 3.0f, -3.0f}));
  EXPECT_TRUE(std::signbit(w[5]));
  EXPECT_EQ(f.read_f32("conv1.bn.weight", {2}), (std::vector<float>{1.0f, -0.5f}));
  EXPECT_EQ(f.read_f32("conv1.bn.bias", {2}), (std::vector<float>{0.25f, 0.0f}));
  EXPECT_EQ(f.read_f32("conv1.bn.running_mean", {2}), (std::vector<float>{0.5f, -1.5f}));
  EXPECT_EQ(f.read_f32("conv1.bn.running_var", {2}), (std::vector<float>{1.0f, 4.0f}));
  EXPECT_EQ(f.read_f32("fc.weight", {3, 2}), (std::vector<float>{1.0f, -1.0f, 0.5f, -0.5f, 2.0f, -2.0f}));
  EXPECT_EQ(f.find("conv1.bn.num_batches_tracked"), nullptr);
  for (const TensorView& t : f.tensors()) EXPECT_EQ(t.dtype, Dtype::F32) << t.name;
  // The C++ writer writes the Python writer's bytes.
  EXPECT_EQ(serialize_safetensors(owned(f), f.metadata()), read_file(fixture("tiny.safetensors")));
}

TEST(PythonFile, EveryNumpyDtypeFromTheSafetensorsPackage) {
  // safetensors.numpy.save (safetensors 0.8.0): by_safetensors_tensors() in test_export_weights.py.
  const SafetensorsFile f = SafetensorsFile::open(fixture("by_safetensors.safetensors"));
  EXPECT_EQ(f.metadata().at("made_by"), "safetensors.numpy.save, safetensors 0.8.0");
  ASSERT_EQ(f.tensors().size(), 12u);
  EXPECT_EQ(f.read_f32("w.f32", {2, 3}), (std::vector<float>{0.5f, -1.0f, 2.0f, -0.25f, 0.0f, 3.0f}));
  EXPECT_EQ(f.read_f32("w.f16", {4}), (std::vector<float>{1.0f, -2.0f, 65504.0f, std::ldexp(1.0f, -24)}));
  EXPECT_EQ(f.read_f32("w.f64", {}), std::vector<float>{0.1f});
  EXPECT_EQ(f.read_f32("i.i8", {4}), (std::vector<float>{-128.0f, -1.0f, 0.0f, 127.0f}));
  EXPECT_EQ(f.read_f32("i.i16", {2}), (std::vector<float>{-32768.0f, 32767.0f}));
  EXPECT_EQ(f.read_f32("i.i32", {2}), (std::vector<float>{-7.0f, 123456.0f}));
  EXPECT_EQ(f.read_f32("i.i64", {1, 1}), std::vector<float>{-5.0f});
  EXPECT_TRUE(f.read_f32("u.u8", {0, 3}).empty());
  EXPECT_EQ(f.read_f32("u.u16", {2}), (std::vector<float>{0.0f, 65535.0f}));
  EXPECT_EQ(f.read_f32("u.u32", {1}), std::vector<float>{4294967296.0f});  // 2^32 - 1 rounds up in float
  EXPECT_EQ(f.read_f32("u.u64", {1}), std::vector<float>{9007199254740992.0f});
  const TensorView& mask = f.get("m.bool");
  EXPECT_EQ(mask.dtype, Dtype::BOOL);
  EXPECT_EQ(std::vector<uint8_t>(mask.data, mask.data + mask.bytes), raw({1, 0, 1}));
  // One metadata key, so the package's bytes are fully determined: the C++ writer writes them.
  EXPECT_EQ(serialize_safetensors(owned(f), f.metadata()), read_file(fixture("by_safetensors.safetensors")));
}

}  // namespace
}  // namespace btc::net
