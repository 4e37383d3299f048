#include "storage/api_key_store.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "storage/crypto.h"

namespace recgw::storage {
namespace {

TEST(ApiKeyTest, MintedKeysArePrefixedBase64UrlOf32RandomBytes) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    std::string key = mintApiKey();
    ASSERT_EQ(key.size(), kApiKeyLength) << key;
    ASSERT_EQ(key.rfind("rgw_", 0), 0u) << key;
    auto raw = crypto::base64UrlDecode(key.substr(4));
    ASSERT_TRUE(raw.has_value()) << key;
    EXPECT_EQ(raw->size(), 32u);
    EXPECT_TRUE(looksLikeApiKey(key)) << key;
    seen.insert(key);
  }
  EXPECT_EQ(seen.size(), 50u);
}

TEST(ApiKeyTest, ShapeCheckRefusesAnythingElse) {
  std::string good = mintApiKey();
  EXPECT_FALSE(looksLikeApiKey(""));
  EXPECT_FALSE(looksLikeApiKey("rgw_"));
  EXPECT_FALSE(looksLikeApiKey(good.substr(0, good.size() - 1)));
  EXPECT_FALSE(looksLikeApiKey(good + "A"));
  EXPECT_FALSE(looksLikeApiKey("RGW_" + good.substr(4)));
  EXPECT_FALSE(looksLikeApiKey("xyz_" + good.substr(4)));
  std::string withPlus = good;
  withPlus[10] = '+';
  EXPECT_FALSE(looksLikeApiKey(withPlus));
  std::string withPadding = good.substr(0, good.size() - 1) + "=";
  EXPECT_FALSE(looksLikeApiKey(withPadding));
  // The last character carries two zero bits: only one spelling per key is accepted.
  std::string otherSpelling = good;
  otherSpelling.back() = 'B';
  EXPECT_FALSE(looksLikeApiKey(otherSpelling));
}

TEST(ApiKeyTest, HashIsSha256HexOfTheWholeKey) {
  EXPECT_EQ(apiKeyHash("rgw_abc"), crypto::sha256Hex("rgw_abc"));
  EXPECT_EQ(apiKeyHash("rgw_abc").size(), 64u);
  EXPECT_NE(apiKeyHash("rgw_abc"), apiKeyHash("rgw_abd"));
  ApiKeyRecord r;
  r.keySha256 = apiKeyHash("rgw_abc");
  EXPECT_EQ(r.id(), r.keySha256.substr(0, 16));
}

TEST(ApiKeyTest, RevokeRefusesIdsThatAreNotHexPrefixesBeforeAskingMongo) {
  std::string error;
  // A null client would be reported as such: these fail on the id first.
  for (const char* id : {"", "abc", "ABCDEF0123", "0123456z89",
                         "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0"}) {
    error.clear();
    EXPECT_FALSE(ApiKeyStore::revokeBlocking(nullptr, "db", "api_keys", id, {}, error).has_value()) << id;
    EXPECT_NE(error.find("hex"), std::string::npos) << id << ": " << error;
  }
  error.clear();
  EXPECT_FALSE(ApiKeyStore::revokeBlocking(nullptr, "db", "api_keys", "0123456789abcdef", {}, error));
  EXPECT_NE(error.find("no MongoDB client"), std::string::npos) << error;
}

}  // namespace
}  // namespace recgw::storage
