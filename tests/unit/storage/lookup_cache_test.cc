// The lookup cache: Redis keys, the cached record encoding, and the MongoDB admission
// (with Redis disabled and a MongoDB that is never reachable).
#include "storage/lookup_cache.h"

#include <gtest/gtest.h>
#include <mongoc/mongoc.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "reactor/event_loop.h"
#include "reactor/metrics.h"
#include "reactor/worker_pool.h"
#include "storage/call_store.h"
#include "storage/mongo_client.h"

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

// A LookupCache whose MongoDB is a closed port: a query that gets through answers
// kUnavailable (quickly: connection refused).
struct LookupAdmissionTest : ::testing::Test {
  LookupAdmissionTest() {
    static bool once = (mongoc_init(), true);
    (void)once;
    workers = std::make_unique<reactor::WorkerPool>(loop, 1, 16);
    mongo = std::make_unique<MongoClient>(*workers, "mongodb://127.0.0.1:9/cxb", std::chrono::milliseconds(200),
                                          1);
    calls = std::make_unique<CallStore>(*mongo, "calls");
    LookupSettings settings;
    settings.l1Ttl = std::chrono::seconds(3600);
    cache = std::make_unique<LookupCache>(*calls, nullptr, metrics, settings);
  }
  ~LookupAdmissionTest() override {
    cache.reset();
    calls.reset();
    workers->shutdown();
    mongo.reset();
    workers.reset();
  }
  double mongoQueries() const { return metrics.value("recgw_mongo_queries_total"); }
  void runUntilStopped() {
    bool expired = false;
    reactor::Timer guard(loop, [&] {
      expired = true;
      loop.stop();
    });
    guard.startOnce(std::chrono::seconds(10));
    loop.run();
    ASSERT_FALSE(expired) << "the lookup never answered";
  }

  reactor::EventLoop loop;
  reactor::Metrics metrics;
  std::unique_ptr<reactor::WorkerPool> workers;
  std::unique_ptr<MongoClient> mongo;
  std::unique_ptr<CallStore> calls;
  std::unique_ptr<LookupCache> cache;
};

CallRecord foundRecord() {
  CallRecord r;
  r.outcome = CallRecord::Outcome::kFound;
  r.key = "rec/a.ogg";
  r.keyDerivation = "recording_key";
  return r;
}

TEST_F(LookupAdmissionTest, CachedAnswersNeverAskTheAdmission) {
  cache->store(LookupField::kToken, "valid-token", foundRecord());
  CallRecord miss;
  miss.outcome = CallRecord::Outcome::kNoCall;
  cache->store(LookupField::kToken, "cached-miss", miss);
  int asked = 0;
  auto refuse = [&asked] {
    ++asked;
    return false;
  };
  std::vector<std::pair<CallRecord::Outcome, std::string>> answers;
  auto collect = [&answers](CallRecord r, std::string tier, std::string) {
    answers.emplace_back(r.outcome, tier);
  };
  cache->resolve(LookupField::kToken, "valid-token", collect, refuse);
  cache->resolve(LookupField::kToken, "cached-miss", collect, refuse);
  ASSERT_EQ(answers.size(), 2u);  // L1 answers synchronously
  EXPECT_EQ(answers[0], std::make_pair(CallRecord::Outcome::kFound, std::string("l1")));
  EXPECT_EQ(answers[1], std::make_pair(CallRecord::Outcome::kNoCall, std::string("l1")));
  EXPECT_EQ(asked, 0);
  EXPECT_EQ(mongoQueries(), 0);
}

TEST_F(LookupAdmissionTest, RefusedLookupNeverReachesMongo) {
  int asked = 0;
  std::string tier;
  CallRecord answer;
  cache->resolve(
      LookupField::kToken, "unknown-token",
      [&](CallRecord r, std::string t, std::string) {
        answer = r;
        tier = t;
      },
      [&asked] {
        ++asked;
        return false;
      });
  EXPECT_EQ(asked, 1);
  EXPECT_EQ(tier, kRefusedTier);
  EXPECT_EQ(answer.outcome, CallRecord::Outcome::kUnavailable);
  EXPECT_EQ(mongoQueries(), 0);
  EXPECT_EQ(metrics.value("recgw_lookup_refused_total"), 1);
  EXPECT_EQ(cache->l1Size(), 0u);  // a refusal is not an answer to cache
}

TEST_F(LookupAdmissionTest, OneAdmittedWaiterQueriesForAllAndLaterJoinersAreNotAsked) {
  // With Redis disabled the admission is decided as the first lookup starts, so the flight
  // is formed by joining it after an admitted first waiter.
  std::vector<std::string> tiers;
  int refusingAsked = 0;
  auto collect = [&](CallRecord, std::string t, std::string) {
    tiers.push_back(t);
    if (tiers.size() == 2) loop.stop();
  };
  cache->resolve(LookupField::kToken, "shared-token", collect, [] { return true; });
  cache->resolve(LookupField::kToken, "shared-token", collect, [&refusingAsked] {
    ++refusingAsked;
    return false;
  });
  EXPECT_EQ(mongoQueries(), 1);
  runUntilStopped();
  EXPECT_EQ(refusingAsked, 0);  // it shared a query that was already paid for
  EXPECT_EQ(tiers, (std::vector<std::string>{"mongo", "mongo"}));
}

TEST_F(LookupAdmissionTest, NoAdmissionMeansAlwaysAdmitted) {
  bool answered = false;
  cache->resolve(LookupField::kSessionId, "session-1", [&](CallRecord, std::string tier, std::string) {
    answered = true;
    EXPECT_EQ(tier, "mongo");
    loop.stop();
  });
  EXPECT_EQ(mongoQueries(), 1);
  runUntilStopped();
  EXPECT_TRUE(answered);
}

}  // namespace
}  // namespace recgw::storage
