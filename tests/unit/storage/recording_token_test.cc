#include "storage/recording_token.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "storage/crypto.h"
#include "storage/uri_encoding.h"

namespace recgw::storage {
namespace {

TEST(RecordingTokenTest, MintToken) {
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) {
    std::string token = mintToken();
    ASSERT_EQ(token.size(), 43u) << token;
    for (char c : token) {
      bool ok =
          (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      ASSERT_TRUE(ok) << "unexpected character in " << token;
    }
    auto raw = crypto::base64UrlDecode(token);
    ASSERT_TRUE(raw.has_value());
    EXPECT_EQ(raw->size(), 32u);
    // URL-safe as is: the public URL carries it unchanged.
    EXPECT_EQ(uriEncode(token, false), token);
    seen.insert(std::move(token));
  }
  EXPECT_EQ(seen.size(), 2000u);
}

}  // namespace
}  // namespace recgw::storage
