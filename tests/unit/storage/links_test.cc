// Public links (issue "links"): the invalidation event on the wire, the link states a call's
// record gives, how the lookup cache keeps them (revoked, expiry, short-lived not-ready
// states) and that an invalidation drops an L1 entry.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "reactor/metrics.h"
#include "storage/crypto.h"
#include "storage/invalidation_bus.h"
#include "storage/iso_time.h"
#include "storage/lookup_cache.h"
#include "storage/public_link.h"

namespace recgw::storage {
namespace {

TEST(InvalidationEventTest, TokenEventCarriesTheHashNeverTheToken) {
  const std::string token = "raw-secret-token-value-0123456789";
  InvalidationEvent e = InvalidationEvent::forToken(token, "revoke", "calls/a.ogg");
  std::string wire = encodeInvalidation(e);
  EXPECT_EQ(wire.find(token), std::string::npos) << wire;
  auto back = decodeInvalidation(wire);
  ASSERT_TRUE(back.has_value()) << wire;
  EXPECT_EQ(back->field, LookupField::kToken);
  EXPECT_EQ(back->value, crypto::sha256Hex(token));
  EXPECT_EQ(back->storageKey, "calls/a.ogg");
  EXPECT_EQ(back->reason, "revoke");
  // The same key the lookup cache files the token under.
  EXPECT_EQ(back->cacheKey(), cacheKey(LookupField::kToken, token));
}

TEST(InvalidationEventTest, SessionEventRoundTrips) {
  InvalidationEvent e = InvalidationEvent::forSession("sess-\"odd\"", "evict");
  e.origin = "w1";
  auto back = decodeInvalidation(encodeInvalidation(e));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->field, LookupField::kSessionId);
  EXPECT_EQ(back->cacheKey(), cacheKey(LookupField::kSessionId, "sess-\"odd\""));
  EXPECT_EQ(back->storageKey, "");
  EXPECT_EQ(back->origin, "w1");
}

TEST(InvalidationEventTest, ObjectEventRoundTripsAndNamesNoLookupEntry) {
  InvalidationEvent e = InvalidationEvent::forObject("rooms/r1/rec \"a\".ogg", "lifecycle");
  e.origin = "w2";
  auto back = decodeInvalidation(encodeInvalidation(e));
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(back->objectOnly);
  EXPECT_EQ(back->storageKey, "rooms/r1/rec \"a\".ogg");
  EXPECT_EQ(back->reason, "lifecycle");
  EXPECT_EQ(back->origin, "w2");
  EXPECT_FALSE(decodeInvalidation(R"({"field":"object"})").has_value());  // no key: nothing to drop
  EXPECT_FALSE(decodeInvalidation(R"({"field":"object","storage_key":""})").has_value());
}

TEST(InvalidationEventTest, ForeignOrMalformedMessagesAreRefused) {
  for (const char* text : {"", "hello", "[]", "{}", R"({"field":"token","value":"not-a-hash"})",
                           R"({"field":"token"})", R"({"field":"other","value":"x"})",
                           R"({"field":"session","value":""})", R"({"field":"session","value":3})"}) {
    EXPECT_FALSE(decodeInvalidation(text).has_value()) << text;
  }
  EXPECT_FALSE(decodeInvalidation(std::string(10000, '{')).has_value());
}

CallRecord call(const char* status) {
  CallRecord r;
  r.outcome = CallRecord::Outcome::kFound;
  r.key = "k.ogg";
  r.recordingStatus = status;
  return r;
}

TEST(LinkStateTest, StatusesOfTheRecording) {
  EXPECT_EQ(linkStateOf(call("ready"), 0), LinkState::kPlayable);
  EXPECT_EQ(linkStateOf(call(""), 0), LinkState::kPlayable);
  EXPECT_EQ(linkStateOf(call("processing"), 0), LinkState::kNotReady);
  EXPECT_EQ(linkStateOf(call("uploading"), 0), LinkState::kNotReady);
  EXPECT_EQ(linkStateOf(call("deleted"), 0), LinkState::kDeleted);
  EXPECT_EQ(linkStateOf(call("failed"), 0), LinkState::kFailed);
  CallRecord softDeleted = call("ready");
  softDeleted.recordingDeleted = true;
  EXPECT_EQ(linkStateOf(softDeleted, 0), LinkState::kDeleted);
  auto back = decodeCachedRecord(encodeCachedRecord(softDeleted, ""));
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(back->first.recordingDeleted);
  EXPECT_STREQ(linkStateError(LinkState::kNotReady), "recording_not_ready");
  EXPECT_STREQ(linkStateError(LinkState::kDeleted), "recording_deleted");
  EXPECT_STREQ(linkStateError(LinkState::kFailed), "recording_failed");
}

TEST(LinkStateTest, RevokedAndExpiredLinksComeFirst) {
  CallRecord revoked;
  revoked.outcome = CallRecord::Outcome::kNoCall;
  revoked.linkRevoked = true;
  EXPECT_EQ(linkStateOf(revoked, 0), LinkState::kRevoked);
  EXPECT_STREQ(linkStateError(LinkState::kRevoked), "link_revoked");
  CallRecord expiring = call("processing");
  expiring.accessExpiresAtMs = 1000;
  EXPECT_EQ(linkStateOf(expiring, 999), LinkState::kNotReady);
  EXPECT_EQ(linkStateOf(expiring, 1000), LinkState::kExpired);
  EXPECT_STREQ(linkStateError(LinkState::kExpired), "link_expired");
  // An unknown token stays the usual 404.
  CallRecord none;
  none.outcome = CallRecord::Outcome::kNoCall;
  EXPECT_EQ(linkStateOf(none, 0), LinkState::kPlayable);
}

TEST(LinkStateTest, CachedRecordKeepsRevocationAndExpiry) {
  CallRecord r = call("ready");
  r.accessExpiresAtMs = 1767225600123;
  auto back = decodeCachedRecord(encodeCachedRecord(r, ""));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->first.accessExpiresAtMs, 1767225600123);
  EXPECT_FALSE(back->first.linkRevoked);
  CallRecord revoked;
  revoked.outcome = CallRecord::Outcome::kNoCall;
  revoked.linkRevoked = true;
  back = decodeCachedRecord(encodeCachedRecord(revoked, ""));
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(back->first.linkRevoked);
  EXPECT_EQ(linkStateOf(back->first, 0), LinkState::kRevoked);
}

TEST(IsoTimeTest, FormatsMillisAndParsesThemBack) {
  EXPECT_EQ(formatIsoMillis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(formatIsoMillis(1767225600123), "2026-01-01T00:00:00.123Z");
  auto parsed = parseIsoInstant(formatIsoMillis(1767225600123));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(parsed->time_since_epoch()).count(),
            1767225600123);
}

// The cache over a fake MongoDB and clock, Redis disabled.
struct LinkCacheTest : ::testing::Test {
  LookupCache& cache() {
    if (!cache_) {
      LookupBackends backends;
      backends.findCall = [this](LookupField, const std::string&, std::function<void(CallRecord)> done) {
        ++mongoQueries;
        done(answer);
      };
      backends.now = [this] { return now; };
      cache_ = std::make_unique<LookupCache>(std::move(backends), nullptr, metrics, settings);
    }
    return *cache_;
  }
  std::string tierOf(const std::string& token) {
    std::string tier;
    cache().resolve(LookupField::kToken, token, [&](CallRecord, std::string t, std::string) { tier = t; });
    return tier;
  }
  LookupSettings settings;
  reactor::Metrics metrics;
  CallRecord answer = call("ready");
  int mongoQueries = 0;
  std::chrono::steady_clock::time_point now = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);

 private:
  std::unique_ptr<LookupCache> cache_;
};

TEST_F(LinkCacheTest, NotReadyIsKeptOnlyForTheShortTtl) {
  settings.l1Ttl = std::chrono::seconds(60);
  settings.notReadyTtl = std::chrono::seconds(2);
  answer = call("processing");
  EXPECT_EQ(tierOf("t"), "mongo");
  now += std::chrono::milliseconds(1999);
  EXPECT_EQ(tierOf("t"), "l1");
  now += std::chrono::milliseconds(1);
  answer = call("ready");
  EXPECT_EQ(tierOf("t"), "mongo");
  // Ready: the ordinary L1 TTL again.
  now += std::chrono::seconds(30);
  EXPECT_EQ(tierOf("t"), "l1");
}

TEST_F(LinkCacheTest, AnInvalidationEventDropsTheL1Entry) {
  reactor::Metrics busMetrics;
  InvalidationBus bus(nullptr, nullptr, busMetrics);
  cache().useInvalidationBus(&bus);
  EXPECT_EQ(tierOf("tok-a"), "mongo");
  EXPECT_EQ(tierOf("tok-a"), "l1");
  std::vector<InvalidationEvent> seen;
  bus.addListener([&](const InvalidationEvent& e) { seen.push_back(e); });
  // As if another worker had published it.
  bus.publish(InvalidationEvent::forToken("tok-b", "revoke"));
  EXPECT_EQ(tierOf("tok-a"), "l1");
  bus.publish(InvalidationEvent::forToken("tok-a", "revoke"));
  EXPECT_EQ(tierOf("tok-a"), "mongo");
  ASSERT_EQ(seen.size(), 2u);
  // evict() publishes, with the object key L1 knew.
  cache().evict(LookupField::kToken, "tok-a", {}, "rotate");
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen.back().reason, "rotate");
  EXPECT_EQ(seen.back().storageKey, "k.ogg");
  EXPECT_EQ(seen.back().value, crypto::sha256Hex("tok-a"));
}

}  // namespace
}  // namespace recgw::storage
