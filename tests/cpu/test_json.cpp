#include "harness/core/json.h"

#include <gtest/gtest.h>

#include <cmath>

namespace btc::json {
namespace {

TEST(Json, RoundTripKeepsOrderAndTypes) {
  const std::string text = R"({"b": 1, "a": [true, null, "x\n\"y\"", -2.5e3], "c": {"d": 12345678901}})";
  Value v = parse(text);
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(v.as_object()[0].first, "b");  // insertion order, not sorted
  EXPECT_EQ(v.find("a")->as_array()[2].as_string(), "x\n\"y\"");
  EXPECT_DOUBLE_EQ(v.find("a")->as_array()[3].as_number(), -2500);
  EXPECT_DOUBLE_EQ(v.find("c")->find("d")->as_number(), 12345678901.0);
  Value again = parse(v.dump());
  EXPECT_EQ(again.dump(), v.dump());
  EXPECT_EQ(parse(v.dump(0)).dump(), v.dump());
}

TEST(Json, SetReplacesExistingKey) {
  Value v = Value::object();
  v.set("k", 1);
  v.set("k", "two");
  ASSERT_EQ(v.as_object().size(), 1u);
  EXPECT_EQ(v.find("k")->as_string(), "two");
}

TEST(Json, UnicodeEscapes) {
  EXPECT_EQ(parse(R"("\u00e9\u20ac")").as_string(), "\xC3\xA9\xE2\x82\xAC");
}

TEST(Json, ErrorsSayWhere) {
  try {
    parse("{\n  \"a\": [1, 2,\n}");
    FAIL() << "no error";
  } catch (const ParseError& e) {
    EXPECT_NE(std::string(e.what()).find("3:1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse(""), ParseError);
  EXPECT_THROW(parse("{\"a\" 1}"), ParseError);
  EXPECT_THROW(parse("[1] x"), ParseError);
  EXPECT_THROW(parse("\"unterminated"), ParseError);
  EXPECT_THROW(parse("[01x]"), ParseError);
  EXPECT_THROW(parse(std::string(1000, '[')), ParseError);  // depth limit, no stack overflow
}

TEST(Json, NonFiniteNumbersWriteAsNull) {
  Value v = Value::array();
  v.push_back(Value(std::nan("")));
  EXPECT_EQ(v.dump(0), "[null]\n");
}

}  // namespace
}  // namespace btc::json
