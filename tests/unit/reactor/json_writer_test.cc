#include "reactor/json_writer.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>
#include <cstdio>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace recgw::reactor {
namespace {

// Parses `json` with simdjson; fails the test when it is not valid JSON.
simdjson::dom::element parse(simdjson::dom::parser& parser, const std::string& json) {
  simdjson::dom::element doc;
  auto error = parser.parse(json).get(doc);
  EXPECT_EQ(error, simdjson::SUCCESS) << "not JSON: " << json;
  return doc;
}

std::string quoted(std::string_view text) {
  std::string out;
  appendJsonString(out, text);
  return out;
}

TEST(JsonWriterTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(quoted("plain"), "\"plain\"");
  EXPECT_EQ(quoted("a\"b"), "\"a\\\"b\"");
  EXPECT_EQ(quoted("a\\b"), "\"a\\\\b\"");
  EXPECT_EQ(quoted("l1\nl2\r\t"), "\"l1\\nl2\\r\\t\"");
  EXPECT_EQ(quoted(std::string_view("\x01\x1f", 2)), "\"\\u0001\\u001f\"");
  EXPECT_EQ(quoted(std::string_view("\0", 1)), "\"\\u0000\"");
  EXPECT_EQ(quoted(""), "\"\"");
}

TEST(JsonWriterTest, EveryAsciiByteRoundTripsThroughAParser) {
  std::string all;
  for (int c = 0; c < 0x80; ++c) all.push_back(static_cast<char>(c));
  all += "caf\xc3\xa9 \xe2\x82\xac";  // UTF-8 passes through
  JsonWriter w;
  w.beginObject().field("s", all).endObject();
  simdjson::dom::parser parser;
  auto doc = parse(parser, w.str());
  std::string_view back;
  ASSERT_EQ(doc["s"].get_string().get(back), simdjson::SUCCESS);
  EXPECT_EQ(back, all);
  // No raw control character reaches the output.
  for (unsigned char c : w.str()) EXPECT_GE(c, 0x20) << w.str();
}

TEST(JsonWriterTest, NestingAndCommas) {
  JsonWriter w;
  w.beginObject()
      .field("a", 1)
      .key("b")
      .beginArray()
      .value("x")
      .value(true)
      .null()
      .beginObject()
      .endObject()
      .beginArray()
      .endArray()
      .endArray()
      .key("c")
      .beginObject()
      .field("d", false)
      .field("e", "f")
      .endObject()
      .field("g", int64_t{-5})
      .endObject();
  EXPECT_EQ(w.str(), R"({"a":1,"b":["x",true,null,{},[]],"c":{"d":false,"e":"f"},"g":-5})");
  simdjson::dom::parser parser;
  auto doc = parse(parser, w.str());
  int64_t a = 0;
  EXPECT_EQ(doc["a"].get_int64().get(a), simdjson::SUCCESS);
  EXPECT_EQ(a, 1);
  simdjson::dom::array b;
  ASSERT_EQ(doc["b"].get_array().get(b), simdjson::SUCCESS);
  EXPECT_EQ(b.size(), 5u);
  std::string_view e;
  EXPECT_EQ(doc["c"]["e"].get_string().get(e), simdjson::SUCCESS);
  EXPECT_EQ(e, "f");
}

TEST(JsonWriterTest, ArraysOfArraysAndObjects) {
  JsonWriter w;
  w.beginArray();
  for (int i = 0; i < 3; ++i) {
    w.beginArray().value(i).value(i * 10).endArray();
    w.beginObject().field("i", i).endObject();
  }
  w.endArray();
  EXPECT_EQ(w.str(), R"([[0,0],{"i":0},[1,10],{"i":1},[2,20],{"i":2}])");
  simdjson::dom::parser parser;
  simdjson::dom::array arr;
  ASSERT_EQ(parse(parser, w.str()).get_array().get(arr), simdjson::SUCCESS);
  EXPECT_EQ(arr.size(), 6u);
}

TEST(JsonWriterTest, NumbersAtTheLimits) {
  JsonWriter w;
  w.beginArray()
      .value(std::numeric_limits<int64_t>::min())
      .value(std::numeric_limits<int64_t>::max())
      .value(std::numeric_limits<uint64_t>::max())
      .value(1.5)
      .value(std::nan(""))
      .value(std::numeric_limits<double>::infinity())
      .endArray();
  simdjson::dom::parser parser;
  simdjson::dom::array arr;
  ASSERT_EQ(parse(parser, w.str()).get_array().get(arr), simdjson::SUCCESS);
  int64_t lo = 0, hi = 0;
  uint64_t uhi = 0;
  double d = 0;
  EXPECT_EQ(arr.at(0).get_int64().get(lo), simdjson::SUCCESS);
  EXPECT_EQ(lo, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(arr.at(1).get_int64().get(hi), simdjson::SUCCESS);
  EXPECT_EQ(hi, std::numeric_limits<int64_t>::max());
  EXPECT_EQ(arr.at(2).get_uint64().get(uhi), simdjson::SUCCESS);
  EXPECT_EQ(uhi, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(arr.at(3).get_double().get(d), simdjson::SUCCESS);
  EXPECT_DOUBLE_EQ(d, 1.5);
  // Non-finite numbers are not JSON: they become null.
  EXPECT_TRUE(arr.at(4).is_null());
  EXPECT_TRUE(arr.at(5).is_null());
}

TEST(JsonWriterTest, KeysAreEscapedToo) {
  JsonWriter w;
  w.beginObject().field("we\"ird\nkey", "v").endObject();
  simdjson::dom::parser parser;
  std::string_view v;
  EXPECT_EQ(parse(parser, w.str())["we\"ird\nkey"].get_string().get(v), simdjson::SUCCESS);
  EXPECT_EQ(v, "v");
}

TEST(JsonWriterTest, TakeMovesTheText) {
  JsonWriter w;
  w.beginObject().field("k", "v").endObject();
  std::string text = w.take();
  EXPECT_EQ(text, R"({"k":"v"})");
}

TEST(JsonWriterTest, InvalidUtf8BecomesReplacementCharactersAndValidUtf8Stays) {
  // Stored keys and client input need not be UTF-8; the JSON we write must be.
  const std::string cases[] = {"\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ok\xe2\x82"};
  for (const auto& bad : cases) {
    std::string out;
    appendJsonString(out, bad);
    EXPECT_NE(out.find("\xef\xbf\xbd"), std::string::npos) << out;  // U+FFFD
    simdjson::dom::parser parser;
    simdjson::padded_string padded(out);
    std::string_view parsed;
    EXPECT_EQ(parser.parse(padded).get_string().get(parsed), simdjson::SUCCESS) << out;
  }
  std::string good;
  appendJsonString(good, "Anrufé 📞 日本");
  EXPECT_EQ(good, "\"Anrufé 📞 日本\"");
}

TEST(JsonWriterTest, DoublesPrintLikePrintfSixSignificantDigits) {
  for (double d : {0.0, -0.0, 1.0, 0.5, 1.5, 0.000123456789, 123456.0, 1234567.0, 3.14159265, -2.5e-7, 1e21,
                   0.001234, 42.0, 0.1 + 0.2, 9.9999995, 1e-5, 123456.5}) {
    char want[32];
    std::snprintf(want, sizeof want, "%.6g", d);
    JsonWriter w;
    w.value(d);
    EXPECT_EQ(w.take(), want) << d;
  }
}

}  // namespace
}  // namespace recgw::reactor
