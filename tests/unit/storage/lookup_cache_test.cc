// The lookup cache: Redis keys, the cached record encoding, the MongoDB admission (with
// Redis disabled and a MongoDB that is never reachable), and its state — single flight, L1,
// TTLs, negative entries, tombstones — over a fake MongoDB, a fake Redis and a fake clock.
#include "storage/lookup_cache.h"

#include <gtest/gtest.h>
#include <mongoc/mongoc.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
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
    mongo = std::make_unique<MongoClient>(*workers, "mongodb://127.0.0.1:9/cxb",
                                          std::chrono::milliseconds(200), 1);
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

CallRecord foundRecord(std::string key = "rec/a.ogg") {
  CallRecord r;
  r.outcome = CallRecord::Outcome::kFound;
  r.key = std::move(key);
  r.keyDerivation = "recording_key";
  return r;
}

// A record that is only an outcome: kNoCall, kNoKey, kUnavailable.
CallRecord outcomeRecord(CallRecord::Outcome outcome) {
  CallRecord r;
  r.outcome = outcome;
  return r;
}

TEST_F(LookupAdmissionTest, CachedAnswersNeverAskTheAdmission) {
  cache->store(LookupField::kToken, "valid-token", foundRecord());
  cache->store(LookupField::kToken, "cached-miss", outcomeRecord(CallRecord::Outcome::kNoCall));
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

// ---- state, over fakes --------------------------------------------------------------

// Redis as the cache uses it: GET, SET [EX n] [NX], EVAL (recorded, answers nil). Replies
// wait in a queue until flush(), as a real client's arrive on a later loop pass.
class FakeRedis : public LookupRedis {
 public:
  bool connected() const override { return up; }
  void command(std::vector<std::string> args, RedisClient::Callback callback) override {
    sent.push_back(args);
    queue.emplace_back(std::move(args), std::move(callback));
  }
  void flush() {
    while (!queue.empty()) {
      auto [args, callback] = std::move(queue.front());
      queue.pop_front();
      callback(execute(args));
    }
  }
  size_t count(const std::string& verb) const {
    size_t n = 0;
    for (const auto& args : sent) n += args[0] == verb ? 1 : 0;
    return n;
  }

  bool up = true;
  std::map<std::string, std::string> values;
  std::map<std::string, std::string> ttls;  // key -> the EX it was last written with
  std::vector<std::vector<std::string>> sent;

 private:
  RedisReply execute(const std::vector<std::string>& args) {
    RedisReply reply;
    reply.kind = RedisReply::Kind::kNil;
    if (args[0] == "GET") {
      if (auto it = values.find(args[1]); it != values.end()) {
        reply.kind = RedisReply::Kind::kString;
        reply.text = it->second;
      }
    } else if (args[0] == "SET") {
      bool nx = std::find(args.begin(), args.end(), "NX") != args.end();
      if (nx && values.count(args[1])) return reply;
      values[args[1]] = args[2];
      if (auto ex = std::find(args.begin(), args.end(), "EX"); ex != args.end()) ttls[args[1]] = *(ex + 1);
      reply.kind = RedisReply::Kind::kStatus;
      reply.text = "OK";
    }
    return reply;
  }
  std::deque<std::pair<std::vector<std::string>, RedisClient::Callback>> queue;
};

struct LookupStateTest : ::testing::Test {
  using Clock = std::chrono::steady_clock;

  LookupStateTest() { settings.l1Ttl = std::chrono::seconds(5); }

  LookupCache& cache() {
    if (!cache_) {
      LookupBackends backends;
      backends.findCall = [this](LookupField, const std::string& value,
                                 std::function<void(CallRecord)> done) {
        mongoAsked.push_back(value);
        mongoPending.push_back(std::move(done));
      };
      backends.now = [this] { return now; };
      LookupRedis* redisOrNone = withRedis ? &redis : nullptr;
      cache_ = std::make_unique<LookupCache>(std::move(backends), redisOrNone, metrics, settings);
    }
    return *cache_;
  }
  // Answers every MongoDB query waiting, in order.
  void mongoAnswers(const CallRecord& record) {
    auto pending = std::move(mongoPending);
    mongoPending.clear();
    for (auto& done : pending) done(record);
  }

  struct Answer {
    CallRecord::Outcome outcome;
    std::string key;
    std::string tier;
  };
  LookupCache::Done collectInto(std::vector<Answer>& answers) {
    return [&answers](CallRecord r, std::string tier, std::string) {
      answers.push_back({r.outcome, r.key, tier});
    };
  }
  // The answer of one lookup if it came at once (L1), nullopt if it waits for a backend.
  std::optional<Answer> resolveNow(const std::string& token) {
    size_t before = laterAnswers.size();
    cache().resolve(LookupField::kToken, token, collectInto(laterAnswers));
    if (laterAnswers.size() == before) return std::nullopt;
    return laterAnswers.back();
  }

  LookupSettings settings;
  bool withRedis = false;
  FakeRedis redis;
  reactor::Metrics metrics;
  Clock::time_point now = Clock::time_point{} + std::chrono::hours(1);
  std::vector<std::string> mongoAsked;
  std::vector<std::function<void(CallRecord)>> mongoPending;
  std::vector<Answer> laterAnswers;  // of resolveNow(), which may be answered after it returns

 private:
  std::unique_ptr<LookupCache> cache_;
};

TEST_F(LookupStateTest, ConcurrentLookupsOfOneTokenShareOneFetch) {
  withRedis = true;
  constexpr int kWaiters = 8;
  std::vector<Answer> answers;
  for (int i = 0; i < kWaiters; ++i) cache().resolve(LookupField::kToken, "hot", collectInto(answers));
  EXPECT_EQ(redis.count("GET"), 1u);
  redis.flush();  // Redis: miss
  ASSERT_EQ(mongoAsked, std::vector<std::string>{"hot"});
  EXPECT_TRUE(answers.empty());
  mongoAnswers(foundRecord("rec/hot.ogg"));
  ASSERT_EQ(answers.size(), static_cast<size_t>(kWaiters));
  for (const Answer& a : answers) {
    EXPECT_EQ(a.outcome, CallRecord::Outcome::kFound);
    EXPECT_EQ(a.key, "rec/hot.ogg");
    EXPECT_EQ(a.tier, "mongo");
  }
  EXPECT_EQ(metrics.value("recgw_lookup_singleflight_joins_total"), kWaiters - 1);
  redis.flush();
  EXPECT_EQ(redis.count("SET"), 1u);  // one write for the one answer
  EXPECT_EQ(mongoAsked.size(), 1u);
}

TEST_F(LookupStateTest, DistinctTokensDoNotShareAFlight) {
  std::vector<Answer> answers;
  cache().resolve(LookupField::kToken, "a", collectInto(answers));
  cache().resolve(LookupField::kToken, "b", collectInto(answers));
  cache().resolve(LookupField::kSessionId, "a", collectInto(answers));
  EXPECT_EQ(mongoAsked, (std::vector<std::string>{"a", "b", "a"}));
}

TEST_F(LookupStateTest, AnswerFromRedisIsSharedAndKeptInL1) {
  withRedis = true;
  redis.values[cacheKey(LookupField::kToken, "t")] = encodeCachedRecord(foundRecord("k"), "fleet:0");
  std::vector<Answer> answers;
  cache().resolve(LookupField::kToken, "t", collectInto(answers));
  cache().resolve(LookupField::kToken, "t", collectInto(answers));
  redis.flush();
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[1].tier, "redis");
  EXPECT_TRUE(mongoAsked.empty());
  EXPECT_EQ(cache().peek(LookupField::kToken, "t")->second, "fleet:0");
  EXPECT_EQ(resolveNow("t")->tier, "l1");
}

TEST_F(LookupStateTest, ANotReadyAnswerFromRedisIsNotKeptInL1) {
  // Its remaining time in Redis is unknown: kept in L1 with a fresh TTL it could outlive
  // not_ready_ttl_s. Every lookup asks Redis again until the Redis entry expires.
  withRedis = true;
  CallRecord processing = foundRecord("k");
  processing.recordingStatus = "processing";
  redis.values[cacheKey(LookupField::kToken, "p")] = encodeCachedRecord(processing, "");
  std::vector<Answer> answers;
  cache().resolve(LookupField::kToken, "p", collectInto(answers));
  redis.flush();
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].tier, "redis");
  EXPECT_FALSE(cache().peek(LookupField::kToken, "p"));
  EXPECT_EQ(resolveNow("p"), std::nullopt);  // not from L1: Redis is asked again
  EXPECT_EQ(redis.count("GET"), 2u);
}

TEST_F(LookupStateTest, ANotReadyAnswerFromMongoIsKeptForTheNotReadyTtl) {
  withRedis = true;
  settings.notReadyTtl = std::chrono::seconds(2);
  CallRecord processing = foundRecord("k");
  processing.recordingStatus = "processing";
  std::vector<Answer> answers;
  cache().resolve(LookupField::kToken, "p", collectInto(answers));
  redis.flush();
  mongoAnswers(processing);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(resolveNow("p")->tier, "l1");
  now += std::chrono::seconds(2);
  EXPECT_EQ(resolveNow("p"), std::nullopt);  // expired with the not-ready TTL
}

TEST_F(LookupStateTest, L1HitAndMiss) {
  EXPECT_FALSE(resolveNow("t").has_value());  // a miss goes to MongoDB
  EXPECT_EQ(mongoAsked.size(), 1u);
  mongoAnswers(foundRecord("k"));
  auto hit = resolveNow("t");
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->tier, "l1");
  EXPECT_EQ(hit->key, "k");
  EXPECT_EQ(mongoAsked.size(), 1u);
  EXPECT_EQ(metrics.value("recgw_lookup_hits_total", reactor::Metrics::label("tier", "l1")), 1);
  EXPECT_EQ(metrics.value("recgw_lookup_misses_total", reactor::Metrics::label("tier", "l1")), 1);
}

TEST_F(LookupStateTest, L1EvictsTheLeastRecentlyUsedAtCapacity) {
  settings.l1Entries = 2;
  cache().store(LookupField::kToken, "a", foundRecord("ka"));
  cache().store(LookupField::kToken, "b", foundRecord("kb"));
  ASSERT_EQ(resolveNow("a")->tier, "l1");  // a is now the most recent
  cache().store(LookupField::kToken, "c", foundRecord("kc"));
  EXPECT_EQ(cache().l1Size(), 2u);
  EXPECT_TRUE(cache().peek(LookupField::kToken, "a").has_value());
  EXPECT_FALSE(cache().peek(LookupField::kToken, "b").has_value());
  EXPECT_TRUE(cache().peek(LookupField::kToken, "c").has_value());
  EXPECT_EQ(metrics.value("recgw_lookup_l1_entries"), 2);
}

TEST_F(LookupStateTest, L1EntriesExpireAfterTheirTtl) {
  cache().store(LookupField::kToken, "t", foundRecord("k"));
  now += settings.l1Ttl - std::chrono::milliseconds(1);
  EXPECT_EQ(resolveNow("t")->tier, "l1");
  now += std::chrono::milliseconds(1);
  EXPECT_FALSE(cache().peek(LookupField::kToken, "t").has_value());
  EXPECT_FALSE(resolveNow("t").has_value());
  EXPECT_EQ(mongoAsked, std::vector<std::string>{"t"});
  EXPECT_EQ(cache().l1Size(), 0u);  // the expired entry is dropped, not kept
}

TEST_F(LookupStateTest, ExpiredEntriesAtTheColdEndAreDroppedOnInsert) {
  settings.l1Entries = 100;
  cache().store(LookupField::kToken, "old", foundRecord("k"));
  now += settings.l1Ttl;
  cache().store(LookupField::kToken, "new", foundRecord("k"));
  EXPECT_EQ(cache().l1Size(), 1u);
}

TEST_F(LookupStateTest, NotFoundIsCachedForTheMissTtl) {
  withRedis = true;
  settings.l1Ttl = std::chrono::seconds(10);
  settings.redisTtlMiss = std::chrono::seconds(2);
  std::vector<Answer> answers;
  cache().resolve(LookupField::kToken, "gone", collectInto(answers));
  redis.flush();
  mongoAnswers(outcomeRecord(CallRecord::Outcome::kNoCall));
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].outcome, CallRecord::Outcome::kNoCall);
  redis.flush();
  // Redis keeps the miss for redisTtlMiss, never over a tombstone (NX).
  const std::string key = cacheKey(LookupField::kToken, "gone");
  EXPECT_EQ(redis.ttls[key], "2");
  EXPECT_EQ(redis.sent.back().back(), "NX");
  // L1 keeps it for the shorter of its own TTL and the miss TTL.
  now += std::chrono::milliseconds(1999);
  auto cached = resolveNow("gone");
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ(cached->outcome, CallRecord::Outcome::kNoCall);
  EXPECT_EQ(cached->tier, "l1");
  now += std::chrono::milliseconds(1);
  EXPECT_FALSE(cache().peek(LookupField::kToken, "gone").has_value());
  EXPECT_EQ(mongoAsked.size(), 1u);
}

TEST_F(LookupStateTest, APositiveWriteReplacesANegativeEntry) {
  withRedis = true;
  cache().store(LookupField::kToken, "t", outcomeRecord(CallRecord::Outcome::kNoCall));
  EXPECT_EQ(resolveNow("t")->outcome, CallRecord::Outcome::kNoCall);
  cache().store(LookupField::kToken, "t", foundRecord("k"));
  auto answer = resolveNow("t");
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->outcome, CallRecord::Outcome::kFound);
  EXPECT_EQ(answer->key, "k");
  EXPECT_EQ(cache().l1Size(), 1u);
  redis.flush();
  // The warm-up write goes over the cached miss in Redis too (no NX) and lives for ttlHit.
  auto back = decodeCachedRecord(redis.values[cacheKey(LookupField::kToken, "t")]);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->first.outcome, CallRecord::Outcome::kFound);
  EXPECT_EQ(redis.ttls[cacheKey(LookupField::kToken, "t")], std::to_string(settings.redisTtlHit.count()));
}

TEST_F(LookupStateTest, AStoreWithASourceHintKeepsItInBothTiers) {
  // Upload reports store the record with where the object was found: the first stream
  // then asks that source first, on this worker (L1) and on the others (Redis).
  withRedis = true;
  bool redisOk = false;
  cache().store(LookupField::kToken, "t", foundRecord("k"), [&](bool ok) { redisOk = ok; }, "fleet:1");
  auto l1 = cache().peek(LookupField::kToken, "t");
  ASSERT_TRUE(l1.has_value());
  EXPECT_EQ(l1->second, "fleet:1");
  redis.flush();
  EXPECT_TRUE(redisOk);
  auto back = decodeCachedRecord(redis.values[cacheKey(LookupField::kToken, "t")]);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->second, "fleet:1");
  EXPECT_EQ(back->first.key, "k");
}

TEST_F(LookupStateTest, UnavailableIsNeverCached) {
  withRedis = true;
  std::vector<Answer> answers;
  cache().resolve(LookupField::kToken, "t", collectInto(answers));
  redis.flush();
  mongoAnswers(outcomeRecord(CallRecord::Outcome::kUnavailable));
  redis.flush();
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].outcome, CallRecord::Outcome::kUnavailable);
  EXPECT_EQ(cache().l1Size(), 0u);
  EXPECT_EQ(redis.count("SET"), 0u);
  EXPECT_FALSE(resolveNow("t").has_value());  // asked again
  redis.flush();
  EXPECT_EQ(mongoAsked.size(), 2u);
}

TEST_F(LookupStateTest, EvictedEntryIsGoneFromL1AndTombstonedInRedis) {
  withRedis = true;
  cache().store(LookupField::kToken, "revoked", foundRecord("k"));
  redis.flush();
  bool redisOk = false;
  cache().evict(LookupField::kToken, "revoked", [&](bool ok) { redisOk = ok; });
  redis.flush();
  EXPECT_TRUE(redisOk);
  EXPECT_FALSE(cache().peek(LookupField::kToken, "revoked").has_value());
  const std::string key = cacheKey(LookupField::kToken, "revoked");
  EXPECT_EQ(redis.values[key], R"({"v":1,"o":"evicted"})");
  EXPECT_EQ(redis.ttls[key], "30");
  // The next lookup reads the tombstone, which is no answer: MongoDB decides.
  std::vector<Answer> answers;
  cache().resolve(LookupField::kToken, "revoked", collectInto(answers));
  redis.flush();
  EXPECT_EQ(mongoAsked, std::vector<std::string>{"revoked"});
  mongoAnswers(outcomeRecord(CallRecord::Outcome::kNoCall));
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].outcome, CallRecord::Outcome::kNoCall);
  redis.flush();
  EXPECT_EQ(redis.values[key], R"({"v":1,"o":"evicted"})");  // NX: the tombstone stands
}

TEST_F(LookupStateTest, AnswerInFlightDuringAnEvictionIsNotCached) {
  withRedis = true;
  std::vector<Answer> answers;
  cache().resolve(LookupField::kToken, "rotated", collectInto(answers));
  redis.flush();
  ASSERT_EQ(mongoPending.size(), 1u);
  cache().evict(LookupField::kToken, "rotated");
  size_t setsBefore = redis.count("SET");
  // MongoDB answers with the record as it was before the rotation.
  mongoAnswers(foundRecord("old-key"));
  ASSERT_EQ(answers.size(), 1u);  // the waiter still gets its answer
  EXPECT_FALSE(cache().peek(LookupField::kToken, "rotated").has_value());
  EXPECT_EQ(redis.count("SET"), setsBefore);  // nor is it written to Redis
  EXPECT_FALSE(resolveNow("rotated").has_value());
  redis.flush();
  EXPECT_EQ(mongoAsked.size(), 2u);
}

TEST_F(LookupStateTest, RedisDownGoesStraightToMongoAndCountsDegraded) {
  withRedis = true;
  redis.up = false;
  EXPECT_FALSE(resolveNow("t").has_value());
  EXPECT_EQ(redis.count("GET"), 0u);
  EXPECT_EQ(mongoAsked.size(), 1u);
  EXPECT_EQ(metrics.value("recgw_lookup_degraded_total"), 1);
  mongoAnswers(foundRecord("k"));
  EXPECT_EQ(redis.count("SET"), 0u);
  EXPECT_EQ(resolveNow("t")->tier, "l1");
}

}  // namespace
}  // namespace recgw::storage
