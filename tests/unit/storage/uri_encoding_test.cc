#include "storage/uri_encoding.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace recgw::storage {
namespace {

TEST(UriEncodingTest, UriEncode) {
  EXPECT_EQ(uriEncode("a/b c", true), "a/b%20c");
  EXPECT_EQ(uriEncode("a/b c", false), "a%2Fb%20c");
  EXPECT_EQ(uriEncode("ABCXYZabcxyz0189-._~", false), "ABCXYZabcxyz0189-._~");
  EXPECT_EQ(uriEncode("+=&%", false), "%2B%3D%26%25");
  EXPECT_EQ(uriEncode("\xC3\xA9", false), "%C3%A9");  // upper-case hex
  EXPECT_EQ(uriEncode("", true), "");
}

TEST(UriEncodingTest, PercentDecode) {
  EXPECT_EQ(percentDecode("a%20b"), "a b");
  EXPECT_EQ(percentDecode("%e2%82%ac%E2%82%AC"), "\xE2\x82\xAC\xE2\x82\xAC");
  EXPECT_EQ(percentDecode("a+b"), "a+b");  // not form decoding
  EXPECT_EQ(percentDecode("%2F%2f"), "//");
  EXPECT_EQ(percentDecode("%00"), std::string("\0", 1));
  EXPECT_EQ(percentDecode(""), "");
  EXPECT_EQ(percentDecode("%"), std::nullopt);
  EXPECT_EQ(percentDecode("abc%"), std::nullopt);
  EXPECT_EQ(percentDecode("%2"), std::nullopt);
  EXPECT_EQ(percentDecode("%G0"), std::nullopt);
  EXPECT_EQ(percentDecode("%0G"), std::nullopt);
  EXPECT_EQ(percentDecode("100%.ogg"), std::nullopt);
}

}  // namespace
}  // namespace recgw::storage
