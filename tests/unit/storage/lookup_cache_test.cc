// The pure parts of the lookup cache: Redis keys and the cached record encoding.
#include "storage/lookup_cache.h"

#include <gtest/gtest.h>

#include <string>

namespace recgw::storage {
namespace {

bool isLowerHex(const std::string& s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

TEST(LookupCacheKeyTest, TokenKeyNeverHoldsTheRawToken) {
  const std::string token = "Zx9-secretTokenValue_abc";
  std::string key = cacheKey(LookupField::kToken, token);
  EXPECT_EQ(key.find(token), std::string::npos) << key;
  size_t pos = key.find("tok:");
  ASSERT_NE(pos, std::string::npos) << key;
  std::string digest = key.substr(pos + 4);
  EXPECT_EQ(digest.size(), 64u) << key;
  EXPECT_TRUE(isLowerHex(digest)) << key;
  // Deterministic, and distinct tokens give distinct keys.
  EXPECT_EQ(cacheKey(LookupField::kToken, token), key);
  EXPECT_NE(cacheKey(LookupField::kToken, token + "x"), key);
}

TEST(LookupCacheKeyTest, SessionKeyKeepsTheId) {
  std::string key = cacheKey(LookupField::kSessionId, "sess-42");
  EXPECT_NE(key.find("sid:sess-42"), std::string::npos) << key;
  EXPECT_EQ(key.substr(key.size() - 7), "sess-42");
  // The same text as a token and as a session id are different entries.
  EXPECT_NE(cacheKey(LookupField::kToken, "sess-42"), key);
}

CallRecord found() {
  CallRecord r;
  r.outcome = CallRecord::Outcome::kFound;
  r.key = "calls/2024/05/a \"quoted\" \\ key\n.ogg";
  r.keyDerivation = "recording_url";
  r.sessionId = "sess-1";
  r.accountId = "acct-9";
  r.recordingStatus = "completed";
  return r;
}

TEST(LookupCacheRecordTest, FoundRoundTripsWithHint) {
  CallRecord r = found();
  auto back = decodeCachedRecord(encodeCachedRecord(r, "fleet:1"));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->first.outcome, CallRecord::Outcome::kFound);
  EXPECT_EQ(back->first.key, r.key);
  EXPECT_EQ(back->first.keyDerivation, r.keyDerivation);
  EXPECT_EQ(back->first.sessionId, r.sessionId);
  EXPECT_EQ(back->first.accountId, r.accountId);
  EXPECT_EQ(back->first.recordingStatus, r.recordingStatus);
  EXPECT_EQ(back->second, "fleet:1");
}

TEST(LookupCacheRecordTest, FoundWithoutHint) {
  auto back = decodeCachedRecord(encodeCachedRecord(found(), ""));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->second, "");
  EXPECT_EQ(back->first.key, found().key);
}

TEST(LookupCacheRecordTest, NegativeOutcomesRoundTrip) {
  for (auto outcome : {CallRecord::Outcome::kNoCall, CallRecord::Outcome::kNoKey}) {
    CallRecord r;
    r.outcome = outcome;
    if (outcome == CallRecord::Outcome::kNoKey) {
      r.sessionId = "sess-2";
      r.accountId = "acct-2";
    }
    auto back = decodeCachedRecord(encodeCachedRecord(r, ""));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->first.outcome, outcome);
    EXPECT_TRUE(back->first.key.empty());
    EXPECT_EQ(back->first.sessionId, r.sessionId);
    EXPECT_EQ(back->first.accountId, r.accountId);
  }
}

TEST(LookupCacheRecordTest, UnavailableIsNeverReadBackAsAnAnswer) {
  CallRecord r;
  r.outcome = CallRecord::Outcome::kUnavailable;
  r.error = "mongo down";
  EXPECT_FALSE(decodeCachedRecord(encodeCachedRecord(r, "")).has_value());
}

TEST(LookupCacheRecordTest, DecodeRejectsGarbage) {
  for (const char* text :
       {"", "not json", "[]", "{}", "null", "\"found\"", R"({"v":1})", R"({"v":1,"o":5})",
        R"({"v":1,"o":"bogus","k":"x"})", R"({"v":1,"o":"unavailable"})", R"({"v":1,"o":"found"})",
        R"({"v":1,"o":"found","k":""})", R"({"v":1,"o":"found","k":7})", R"({"v":1,"o":"found","k":"a")"}) {
    EXPECT_FALSE(decodeCachedRecord(text).has_value()) << text;
  }
}

}  // namespace
}  // namespace recgw::storage
