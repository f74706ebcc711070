#include "net/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <set>
#include <unordered_map>

#include "harness/core/json.h"

// Tensor bytes are little-endian; the reader copies them as they are.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors.cpp assumes a little-endian host");

namespace btc::net {
namespace {

// The reference reader's limit: a larger header is refused before it is read.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr size_t kLengthBytes = 8;

struct DtypeInfo {
  Dtype dtype;
  const char* name;
  size_t size_bytes;
};
constexpr DtypeInfo kDtypes[] = {
    {Dtype::BOOL, "BOOL", 1}, {Dtype::U8, "U8", 1},     {Dtype::I8, "I8", 1},     {Dtype::I16, "I16", 2},
    {Dtype::U16, "U16", 2},   {Dtype::F16, "F16", 2},   {Dtype::BF16, "BF16", 2}, {Dtype::I32, "I32", 4},
    {Dtype::U32, "U32", 4},   {Dtype::F32, "F32", 4},   {Dtype::F64, "F64", 8},   {Dtype::I64, "I64", 8},
    {Dtype::U64, "U64", 8},
};

const DtypeInfo& info(Dtype d) {
  for (const DtypeInfo& i : kDtypes)
    if (i.dtype == d) return i;
  throw std::logic_error("safetensors: Dtype value out of range");
}

std::string supported_dtypes() {
  std::string out;
  for (const DtypeInfo& i : kDtypes) out += (out.empty() ? "" : ", ") + std::string(i.name);
  return out;
}

// "'a\x01b'" with bytes outside printable ASCII as \xNN, so a message shows a
// malformed name as it is.
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out + "'";
}

// The byte offset of the first invalid UTF-8 sequence (overlong forms,
// surrogates and code points past U+10FFFF are invalid), or npos.
size_t first_invalid_utf8(const uint8_t* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    const uint8_t c = p[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1Fu; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0Fu; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07u; }
    else return i;
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3Fu);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return i;
    i += len;
  }
  return std::string::npos;
}

// numel * element_bytes in 64 bits, checked at every step as the reference
// does (so [2^40, 2^40, 0] overflows although its product is 0); nullopt on
// overflow. The shape's entries are non-negative.
std::optional<uint64_t> checked_byte_count(const std::vector<int64_t>& shape, uint64_t element_bytes) {
  uint64_t n = 1;
  for (int64_t dim : shape) {
    const uint64_t u = static_cast<uint64_t>(dim);
    if (u != 0 && n > std::numeric_limits<uint64_t>::max() / u) return std::nullopt;
    n *= u;
  }
  if (n > std::numeric_limits<uint64_t>::max() / element_bytes) return std::nullopt;
  return n * element_bytes;
}

bool is_json_ws(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

// A second walk over header text that json::parse has accepted, for what the
// parsed tree cannot show: duplicate keys (json::Value::set keeps the last),
// the text of each number (the tree holds a double, where "1.0" and "1" look
// alike and integers past 2^53 round), and \u surrogate escapes (json.cpp
// decodes a pair as two invalid 3-byte sequences, so they are refused here).
class RawScan {
 public:
  RawScan(const std::string& text, const std::string& path) : s_(text), path_(path) {}

  // The text of every bare token that is not true / false / null, in document order.
  std::vector<std::string> scan() {
    scan_value(0, "");
    return std::move(numbers_);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw SafetensorsError(path_ + ": " + what); }
  [[noreturn]] void malformed() const {
    throw std::logic_error("safetensors: header scan out of step with json::parse at byte " + std::to_string(pos_));
  }
  char peek() {
    while (pos_ < s_.size() && is_json_ws(s_[pos_])) ++pos_;
    if (pos_ >= s_.size()) malformed();
    return s_[pos_];
  }

  // `owner`: the top-level key whose value holds this one ("" at the top).
  void scan_value(int depth, const std::string& owner) {
    const char c = peek();
    if (c == '{') {
      ++pos_;
      std::set<std::string> keys;
      if (peek() == '}') { ++pos_; return; }
      while (true) {
        if (peek() != '"') malformed();
        std::string key = scan_string();
        if (!keys.insert(key).second) {
          if (depth == 0) fail("duplicate tensor name " + quoted(key) + " in the header");
          fail("duplicate key " + quoted(key) + " in the header entry of " + quoted(owner));
        }
        if (peek() != ':') malformed();
        ++pos_;
        scan_value(depth + 1, depth == 0 ? key : owner);
        const char next = peek();
        ++pos_;
        if (next == '}') return;
        if (next != ',') malformed();
      }
    }
    if (c == '[') {
      ++pos_;
      if (peek() == ']') { ++pos_; return; }
      while (true) {
        scan_value(depth + 1, owner);
        const char next = peek();
        ++pos_;
        if (next == ']') return;
        if (next != ',') malformed();
      }
    }
    if (c == '"') { scan_string(); return; }
    const size_t start = pos_;
    while (pos_ < s_.size() && !is_json_ws(s_[pos_]) && s_[pos_] != ',' && s_[pos_] != ']' && s_[pos_] != '}') ++pos_;
    std::string token = s_.substr(start, pos_ - start);
    if (token != "true" && token != "false" && token != "null") numbers_.push_back(std::move(token));
  }

  // The decoded string (escapes as json.cpp decodes them, so keys compare as
  // the tree holds them).
  std::string scan_string() {
    ++pos_;  // the opening quote
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) malformed();
      const char c = s_[pos_++];
      if (c == '"') return out;
      if (c != '\\') { out += c; continue; }
      if (pos_ >= s_.size()) malformed();
      const char e = s_[pos_++];
      if (e != 'u') {
        switch (e) {
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          default: out += e;  // '"', '\\', '/' stand for themselves
        }
        continue;
      }
      if (pos_ + 4 > s_.size()) malformed();
      const std::string hex = s_.substr(pos_, 4);
      pos_ += 4;
      const unsigned long cp = std::strtoul(hex.c_str(), nullptr, 16);
      if (cp >= 0xD800 && cp <= 0xDFFF)
        fail("the header has the surrogate escape \\u" + hex + ", which this reader does not decode; write the "
             "character as UTF-8");
      // Key identity only needs one spelling per code point: decode as UTF-8.
      json::append_utf8(out, static_cast<unsigned>(cp));
    }
  }

  const std::string& s_;
  const std::string& path_;
  size_t pos_ = 0;
  std::vector<std::string> numbers_;
};

void collect_numbers(const json::Value& v, std::vector<const json::Value*>& out) {
  if (v.is_number()) {
    out.push_back(&v);
  } else if (v.is_array()) {
    for (const json::Value& e : v.as_array()) collect_numbers(e, out);
  } else if (v.is_object()) {
    for (const auto& kv : v.as_object()) collect_numbers(kv.second, out);
  }
}

std::string json_type_name(const json::Value& v) {
  switch (v.type()) {
    case json::Value::Type::kNull: return "null";
    case json::Value::Type::kBool: return "a bool";
    case json::Value::Type::kNumber: return "a number";
    case json::Value::Type::kString: return "a string";
    case json::Value::Type::kArray: return "an array";
    case json::Value::Type::kObject: return "an object";
  }
  return "?";
}

// One header entry, checked on its own; the layout checks come after.
struct Entry {
  std::string name;
  Dtype dtype = Dtype::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

std::string offsets_string(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

// Reads one header into entries and metadata, throwing with the path first.
class HeaderReader {
 public:
  HeaderReader(const std::string& path, const std::string& text) : path_(path), text_(text) {}

  void read(std::vector<Entry>& entries, std::map<std::string, std::string>& metadata) {
    json::Value root;
    try {
      root = json::parse(text_);
    } catch (const json::ParseError& e) {
      fail(std::string("invalid JSON header: ") + e.what());
    }
    if (!root.is_object()) fail("the header is " + json_type_name(root) + ", not a JSON object");
    const std::vector<std::string> raw = RawScan(text_, path_).scan();
    std::vector<const json::Value*> numbers;
    collect_numbers(root, numbers);
    if (numbers.size() != raw.size())
      throw std::logic_error("safetensors: header scan found " + std::to_string(raw.size()) + " numbers, the tree " +
                             std::to_string(numbers.size()));
    for (size_t i = 0; i < raw.size(); ++i) raw_[numbers[i]] = raw[i];

    for (const auto& [name, value] : root.as_object()) {
      if (name == "__metadata__") {
        read_metadata(value, metadata);
      } else {
        entries.push_back(read_entry(name, value));
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw SafetensorsError(path_ + ": " + what); }

  void read_metadata(const json::Value& value, std::map<std::string, std::string>& metadata) const {
    if (!value.is_object()) fail("__metadata__ is " + json_type_name(value) + ", not an object of strings");
    for (const auto& [key, v] : value.as_object()) {
      if (!v.is_string())
        fail("__metadata__ is not an object of strings: " + quoted(key) + " is " + json_type_name(v));
      metadata[key] = v.as_string();
    }
  }

  // A JSON integer as the reference reads a usize: digits only, no sign,
  // fraction, exponent or leading zero.
  uint64_t read_uint(const json::Value& v, const std::string& tensor, const std::string& what) const {
    if (!v.is_number()) fail("tensor " + quoted(tensor) + ": " + what + " is " + json_type_name(v) + ", not an integer");
    const std::string& text = raw_.at(&v);
    if (!text.empty() && text[0] == '-') fail("tensor " + quoted(tensor) + ": " + what + " " + text + " is negative");
    const bool digits = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || (text.size() > 1 && text[0] == '0'))
      fail("tensor " + quoted(tensor) + ": " + what + " " + text + " is not a plain integer (digits only)");
    uint64_t out = 0;
    for (char c : text) {
      const uint64_t digit = static_cast<uint64_t>(c - '0');
      if (out > (std::numeric_limits<uint64_t>::max() - digit) / 10)
        fail("tensor " + quoted(tensor) + ": " + what + " " + text + " does not fit in 64 bits");
      out = out * 10 + digit;
    }
    return out;
  }

  Entry read_entry(const std::string& name, const json::Value& value) const {
    const std::string t = "tensor " + quoted(name) + ": ";
    if (!value.is_object()) fail(t + "its entry is " + json_type_name(value) + ", not an object");
    for (const auto& kv : value.as_object())
      if (kv.first != "dtype" && kv.first != "shape" && kv.first != "data_offsets")
        fail(t + "unknown key " + quoted(kv.first) + " (an entry has dtype, shape and data_offsets)");
    const json::Value* dtype = value.find("dtype");
    const json::Value* shape = value.find("shape");
    const json::Value* offsets = value.find("data_offsets");
    for (const auto& [key, v] : {std::pair{"dtype", dtype}, std::pair{"shape", shape}, std::pair{"data_offsets", offsets}})
      if (v == nullptr) fail(t + "no '" + key + "' in its entry");

    Entry e;
    e.name = name;
    if (!dtype->is_string()) fail(t + "dtype is " + json_type_name(*dtype) + ", not a string");
    const std::optional<Dtype> d = dtype_from_name(dtype->as_string());
    if (!d) fail(t + "unsupported dtype " + quoted(dtype->as_string()) + " (supported: " + supported_dtypes() + ")");
    e.dtype = *d;

    if (!shape->is_array()) fail(t + "shape is " + json_type_name(*shape) + ", not an array of integers");
    for (const json::Value& dim : shape->as_array()) {
      const uint64_t n = read_uint(dim, name, "shape entry");
      if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail(t + "shape entry " + std::to_string(n) + " exceeds 2^63 - 1");
      e.shape.push_back(static_cast<int64_t>(n));
    }

    if (!offsets->is_array()) fail(t + "data_offsets is " + json_type_name(*offsets) + ", not an array [BEGIN, END]");
    if (offsets->as_array().size() != 2)
      fail(t + "data_offsets has " + std::to_string(offsets->as_array().size()) + " entries, not 2 [BEGIN, END]");
    e.begin = read_uint(offsets->as_array()[0], name, "data_offsets entry");
    e.end = read_uint(offsets->as_array()[1], name, "data_offsets entry");
    if (e.end < e.begin) fail(t + "data_offsets " + offsets_string(e.begin, e.end) + " end before they begin");

    const std::string what = std::string(dtype_name(e.dtype)) + " " + shape_string(e.shape);
    const std::optional<uint64_t> bytes = checked_byte_count(e.shape, dtype_size_bytes(e.dtype));
    if (!bytes) fail(t + what + " has more than 2^64 bytes");
    if (e.end - e.begin != *bytes)
      fail(t + "data_offsets " + offsets_string(e.begin, e.end) + " hold " + std::to_string(e.end - e.begin) +
           " bytes, but " + what + " needs " + std::to_string(*bytes));
    return e;
  }

  const std::string& path_;
  const std::string& text_;
  std::unordered_map<const json::Value*, std::string> raw_;  // a number node -> its text
};

// serde_json's escaping (what the reference writer emits), so the bytes match.

std::vector<uint8_t> serialize(const std::string& label, const std::vector<std::pair<std::string, OwnedTensor>>& tensors,
                               const std::map<std::string, std::string>& metadata) {
  auto fail = [&](const std::string& what) { throw SafetensorsError(label + ": " + what); };
  auto check_utf8 = [&](const std::string& s, const std::string& what) {
    if (first_invalid_utf8(reinterpret_cast<const uint8_t*>(s.data()), s.size()) != std::string::npos)
      fail(what + " " + quoted(s) + " is not valid UTF-8");
  };
  for (const auto& [key, value] : metadata) {
    check_utf8(key, "metadata key");
    check_utf8(value, "metadata value");
  }
  std::set<std::string> names;
  for (const auto& [name, t] : tensors) {
    check_utf8(name, "tensor name");
    if (name == "__metadata__") fail("'__metadata__' is reserved, not a tensor name");
    if (!names.insert(name).second) fail("duplicate tensor name " + quoted(name));
    for (int64_t dim : t.shape)
      if (dim < 0) fail("tensor " + quoted(name) + ": negative shape entry " + std::to_string(dim));
    const std::optional<uint64_t> numel = checked_byte_count(t.shape, 1);
    if (!numel || !checked_byte_count(t.shape, dtype_size_bytes(t.dtype)))
      fail("tensor " + quoted(name) + ": " + dtype_name(t.dtype) + " " + shape_string(t.shape) +
           " has more than 2^64 bytes");
    if (t.bytes.size() != *numel * dtype_size_bytes(t.dtype))
      fail("tensor " + quoted(name) + ": " + std::to_string(t.bytes.size()) + " bytes, but " + dtype_name(t.dtype) +
           " " + shape_string(t.shape) + " needs " + std::to_string(*numel * dtype_size_bytes(t.dtype)));
  }

  // The reference's order: widest dtype first (each tensor then starts at a
  // multiple of its element size), then by name.
  std::vector<const std::pair<std::string, OwnedTensor>*> order;
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    if (a->second.dtype != b->second.dtype) return a->second.dtype > b->second.dtype;
    return a->first < b->first;
  });

  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : metadata) {
      if (!first) header += ',';
      first = false;
      json::append_quoted(header, key);
      header += ':';
      json::append_quoted(header, value);
    }
    header += '}';
  }
  uint64_t offset = 0;
  for (const auto* t : order) {
    if (header.size() > 1) header += ',';
    json::append_quoted(header, t->first);
    header += ":{\"dtype\":\"" + std::string(dtype_name(t->second.dtype)) + "\",\"shape\":[";
    for (size_t i = 0; i < t->second.shape.size(); ++i)
      header += (i ? "," : "") + std::to_string(t->second.shape[i]);
    const uint64_t end = offset + t->second.bytes.size();
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(end) + "]}";
    offset = end;
  }
  header += '}';
  header.append((8 - header.size() % 8) % 8, ' ');  // the data starts 8-aligned

  // Sized once and filled by memcpy (GCC 12 misreads growing inserts as out of bounds).
  const uint64_t n = header.size();
  std::vector<uint8_t> out(kLengthBytes + header.size() + static_cast<size_t>(offset));
  for (size_t i = 0; i < kLengthBytes; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  std::memcpy(out.data() + kLengthBytes, header.data(), header.size());
  size_t at = kLengthBytes + header.size();
  for (const auto* t : order) {
    if (!t->second.bytes.empty()) std::memcpy(out.data() + at, t->second.bytes.data(), t->second.bytes.size());
    at += t->second.bytes.size();
  }
  return out;
}

template <class T>
void convert(const uint8_t* p, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, p + i * sizeof(T), sizeof(T));
    out[i] = static_cast<float>(v);
  }
}

}  // namespace

const char* dtype_name(Dtype d) { return info(d).name; }
size_t dtype_size_bytes(Dtype d) { return info(d).size_bytes; }
std::optional<Dtype> dtype_from_name(const std::string& name) {
  for (const DtypeInfo& i : kDtypes)
    if (name == i.name) return i.dtype;
  return std::nullopt;
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // the reader checked that it fits
  return n;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

float f16_to_f32(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1Fu;
  const uint32_t mantissa = bits & 0x3FFu;
  uint32_t out;
  if (exponent == 0x1F) {
    out = sign | 0x7F800000u | (mantissa << 13);  // inf, or NaN with its payload
  } else if (exponent != 0) {
    out = sign | ((exponent + (127 - 15)) << 23) | (mantissa << 13);
  } else {
    // Zero or subnormal: mantissa * 2^-24, exact in float.
    const float v = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -v : v;
  }
  float f;
  std::memcpy(&f, &out, sizeof f);
  return f;
}

float bf16_to_f32(uint16_t bits) {
  const uint32_t out = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &out, sizeof f);
  return f;
}

void SafetensorsFile::fail(const std::string& what) const { throw SafetensorsError(path_ + ": " + what); }

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw SafetensorsError(path + ": cannot open: " + std::strerror(errno));
  auto give_up = [&](const std::string& what) {
    const std::string err = std::strerror(errno);
    ::close(fd);
    throw SafetensorsError(path + ": " + what + ": " + err);
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0) give_up("cannot stat");
  // A folder "opens" too, with a size that is no byte count.
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw SafetensorsError(path + ": not a regular file" + (S_ISDIR(st.st_mode) ? std::string(" (a folder)") : ""));
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t r = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) give_up("cannot read");
    if (r == 0) break;  // shrank while read: the check below sees a short file
    done += static_cast<size_t>(r);
  }
  ::close(fd);
  bytes.resize(done);
  return parse(path, std::move(bytes));
}

SafetensorsFile SafetensorsFile::parse(const std::string& path, std::vector<uint8_t> bytes) {
  SafetensorsFile f;
  f.path_ = path;
  f.bytes_ = std::move(bytes);
  const uint64_t file_size = f.bytes_.size();
  if (file_size < kLengthBytes)
    f.fail("not a safetensors file: " + std::to_string(file_size) + " bytes, fewer than the 8 of the header length");
  uint64_t n = 0;
  for (size_t i = 0; i < kLengthBytes; ++i) n |= static_cast<uint64_t>(f.bytes_[i]) << (8 * i);
  if (n > kMaxHeaderBytes)
    f.fail("not a safetensors file: header length " + std::to_string(n) + " exceeds the limit of " +
           std::to_string(kMaxHeaderBytes) + " bytes (the file size is " + std::to_string(file_size) + ")");
  if (kLengthBytes + n > file_size)
    f.fail("not a safetensors file: header length " + std::to_string(n) + " exceeds the file size " +
           std::to_string(file_size) + " (8 + " + std::to_string(n) + " = " + std::to_string(kLengthBytes + n) +
           " bytes needed)");
  const uint8_t* header = f.bytes_.data() + kLengthBytes;
  if (const size_t bad = first_invalid_utf8(header, n); bad != std::string::npos)
    f.fail("the header is not valid UTF-8 (at header byte " + std::to_string(bad) + ")");
  if (n == 0 || header[0] != '{')
    f.fail("not a safetensors file: the header does not start with '{'" +
           std::string(n == 0 ? " (it is empty)" : ""));

  std::vector<Entry> entries;
  const std::string text(reinterpret_cast<const char*>(header), n);
  HeaderReader(f.path_, text).read(entries, f.metadata_);

  // The data is the entries' byte ranges laid end to end from 0, in offset
  // order: no hole, no overlap, nothing after the last one.
  std::vector<const Entry*> order;
  for (const Entry& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    if (a->begin != b->begin) return a->begin < b->begin;
    if (a->end != b->end) return a->end < b->end;
    return a->name < b->name;
  });
  uint64_t data_end = 0;
  const Entry* prev = nullptr;
  for (const Entry* e : order) {
    if (e->begin != data_end) {
      const std::string t = "tensor " + quoted(e->name) + ": data_offsets " + offsets_string(e->begin, e->end);
      if (prev == nullptr) f.fail(t + " begin at " + std::to_string(e->begin) + ", not 0: a hole at the start of the data");
      const std::string other = "tensor " + quoted(prev->name) + " " + offsets_string(prev->begin, prev->end);
      if (e->begin > data_end)
        f.fail(t + " leave a hole of " + std::to_string(e->begin - data_end) + " bytes after " + other);
      f.fail(t + " overlap " + other);
    }
    data_end = e->end;
    prev = e;
  }
  const uint64_t data_bytes = file_size - kLengthBytes - n;
  if (data_end < data_bytes)
    f.fail("the tensors end at data byte " + std::to_string(data_end) + ", but the file has " +
           std::to_string(data_bytes) + " data bytes: " + std::to_string(data_bytes - data_end) +
           " bytes after the last tensor");
  if (data_end > data_bytes)
    f.fail("the file is truncated: the tensors need " + std::to_string(data_end) + " data bytes after the header, the file has " +
           std::to_string(data_bytes));

  const uint8_t* data = header + n;
  for (const Entry* e : order) {
    TensorView v;
    v.name = e->name;
    v.dtype = e->dtype;
    v.shape = e->shape;
    v.data = data + e->begin;
    v.bytes = static_cast<size_t>(e->end - e->begin);
    f.index_[v.name] = f.tensors_.size();
    f.tensors_.push_back(std::move(v));
  }
  return f;
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorView& SafetensorsFile::get(const std::string& name) const {
  if (const TensorView* t = find(name)) return *t;
  fail("no tensor " + quoted(name) + " (the file has " + std::to_string(tensors_.size()) + " tensors)");
}

std::vector<float> SafetensorsFile::to_f32(const TensorView& t) const {
  const auto lo = reinterpret_cast<uintptr_t>(bytes_.data());
  const auto at = reinterpret_cast<uintptr_t>(t.data);
  if (at < lo || at + t.bytes > lo + bytes_.size()) fail("tensor " + quoted(t.name) + ": a view of another file");
  const size_t n = static_cast<size_t>(t.numel());
  std::vector<float> out(n);
  switch (t.dtype) {
    case Dtype::F32: if (n) std::memcpy(out.data(), t.data, n * sizeof(float)); break;
    case Dtype::F64: convert<double>(t.data, n, out.data()); break;
    case Dtype::F16:
    case Dtype::BF16: {
      float (*widen)(uint16_t) = t.dtype == Dtype::F16 ? f16_to_f32 : bf16_to_f32;
      for (size_t i = 0; i < n; ++i) {
        uint16_t bits;
        std::memcpy(&bits, t.data + 2 * i, sizeof bits);
        out[i] = widen(bits);
      }
      break;
    }
    case Dtype::U8: convert<uint8_t>(t.data, n, out.data()); break;
    case Dtype::I8: convert<int8_t>(t.data, n, out.data()); break;
    case Dtype::I16: convert<int16_t>(t.data, n, out.data()); break;
    case Dtype::U16: convert<uint16_t>(t.data, n, out.data()); break;
    case Dtype::I32: convert<int32_t>(t.data, n, out.data()); break;
    case Dtype::U32: convert<uint32_t>(t.data, n, out.data()); break;
    case Dtype::I64: convert<int64_t>(t.data, n, out.data()); break;
    case Dtype::U64: convert<uint64_t>(t.data, n, out.data()); break;
    case Dtype::BOOL:
      fail("tensor " + quoted(t.name) + ": dtype BOOL has no float value (to_f32 reads floats and integers)");
  }
  return out;
}

std::vector<float> SafetensorsFile::read_f32(const std::string& name, const std::vector<int64_t>& shape) const {
  const TensorView& t = get(name);
  if (t.shape != shape)
    fail("tensor " + quoted(name) + ": shape " + shape_string(t.shape) + " where " + shape_string(shape) + " expected");
  return to_f32(t);
}

std::vector<uint8_t> serialize_safetensors(const std::vector<std::pair<std::string, OwnedTensor>>& tensors,
                                           const std::map<std::string, std::string>& metadata) {
  return serialize("safetensors writer", tensors, metadata);
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, OwnedTensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::vector<uint8_t> bytes = serialize(path, tensors, metadata);
  // Same folder, so rename(2) is atomic: a reader sees the old file or the
  // whole new one, never a part. The counter keeps threads of one process apart.
  static std::atomic<unsigned> counter{0};
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
    tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) throw SafetensorsError(path + ": cannot create '" + tmp + "': " + std::strerror(errno));
  auto give_up = [&](const std::string& what) {
    const std::string err = std::strerror(errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    throw SafetensorsError(path + ": cannot " + what + " '" + tmp + "': " + err);
  };
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      give_up("write");
    }
    done += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0) give_up("flush");
  if (::close(fd) != 0) {
    const std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw SafetensorsError(path + ": cannot close '" + tmp + "': " + err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw SafetensorsError(path + ": cannot rename '" + tmp + "' into place: " + err);
  }
}

OwnedTensor f32_tensor(std::vector<int64_t> shape, const std::vector<float>& values) {
  OwnedTensor t;
  t.dtype = Dtype::F32;
  t.shape = std::move(shape);
  t.bytes.resize(values.size() * sizeof(float));
  if (!values.empty()) std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
  return t;
}

}  // namespace btc::net
