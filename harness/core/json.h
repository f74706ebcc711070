// A small JSON value: enough to read a Google Benchmark results tree, add the
// btcbench object to it, and validate what we read back. Objects keep their
// insertion order so results files diff cleanly.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace btc::json {

// Appends s as a JSON string literal (quotes, escapes; UTF-8 bytes as they are).
void append_quoted(std::string& out, const std::string& s);
// Appends a code point below U+10000 (a \uXXXX escape, no surrogates) as UTF-8.
void append_utf8(std::string& out, unsigned code_point);

struct ParseError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Value {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  using Array = std::vector<Value>;
  using Object = std::vector<std::pair<std::string, Value>>;

  Value() = default;
  Value(std::nullptr_t) {}
  Value(bool b) : type_(Type::kBool), bool_(b) {}
  Value(double d) : type_(Type::kNumber), num_(d) {}
  Value(int i) : type_(Type::kNumber), num_(i) {}
  Value(int64_t i) : type_(Type::kNumber), num_(static_cast<double>(i)) {}
  Value(uint64_t i) : type_(Type::kNumber), num_(static_cast<double>(i)) {}
  Value(const char* s) : type_(Type::kString), str_(s) {}
  Value(std::string s) : type_(Type::kString), str_(std::move(s)) {}
  Value(Array a) : type_(Type::kArray), arr_(std::move(a)) {}
  static Value object() { Value v; v.type_ = Type::kObject; return v; }
  static Value array() { return Value(Array{}); }

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_object() const { return type_ == Type::kObject; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_number() const { return type_ == Type::kNumber; }

  bool as_bool() const;
  double as_number() const;
  const std::string& as_string() const;
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;

  // Object access: find() returns nullptr when absent; set() replaces or appends.
  const Value* find(const std::string& key) const;
  Value* find(const std::string& key);
  Value& set(const std::string& key, Value v);
  void push_back(Value v);

  std::string dump(int indent = 2) const;

 private:
  void dump_to(std::string& out, int indent, int depth) const;
  Type type_ = Type::kNull;
  bool bool_ = false;
  double num_ = 0;
  std::string str_;
  Array arr_;
  Object obj_;
};

// Throws ParseError with line:column on malformed input.
Value parse(const std::string& text);

}  // namespace btc::json
