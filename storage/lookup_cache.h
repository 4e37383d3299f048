#pragma once
// Token/session → call lookups in front of MongoDB (docs/architecture.md, "A public link"):
//   L1  in-process LRU, bounded by entries, short TTL;
//   L2  Redis (async, same loop), keys recgw:tok:<sha256(token)> / recgw:sid:<id>, never a
//       raw token; hits for ttlHit, misses for ttlMiss so scanners cannot hammer MongoDB;
//   L3  MongoDB through CallStore.
// Concurrent lookups of one key share a single flight. Redis down or slow → MongoDB
// directly (degraded, counted). MongoDB down and not cached → kUnavailable (503), never a
// false "no call". Loop thread only.
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "reactor/liveness.h"
#include "reactor/metrics.h"
#include "storage/call_store.h"
#include "storage/invalidation_bus.h"
#include "storage/redis_client.h"

namespace recgw::storage {

struct LookupSettings {
  size_t l1Entries = 100000;
  std::chrono::seconds l1Ttl{5};
  std::chrono::seconds redisTtlHit{3600};
  std::chrono::seconds redisTtlMiss{60};
  // A recording that is not ready, deleted or failed (public.not_ready_ttl_s): both tiers
  // keep it this long at most, so a recording that becomes ready plays soon.
  std::chrono::seconds notReadyTtl{5};
};

// The cache key for a lookup: "tok:<sha256 hex>" or "sid:<session id>". Pure.
std::string cacheKey(LookupField field, const std::string& value);
// What is stored in Redis for a record, and back. Pure; exposed for tests.
std::string encodeCachedRecord(const CallRecord& record, const std::string& sourceHint);
std::optional<std::pair<CallRecord, std::string>> decodeCachedRecord(std::string_view text);

// What the cache needs of Redis: RedisClient in production, a fake in tests.
class LookupRedis {
 public:
  virtual ~LookupRedis() = default;
  virtual bool connected() const = 0;
  virtual void command(std::vector<std::string> args, RedisClient::Callback callback) = 0;
};

// Where a LookupCache gets MongoDB's answers and the time. The CallStore constructor fills
// these in; tests pass fakes.
struct LookupBackends {
  // Answers exactly once, on the loop thread (CallStore::find).
  std::function<void(LookupField, const std::string&, std::function<void(CallRecord)>)> findCall;
  std::function<std::chrono::steady_clock::time_point()> now = [] {
    return std::chrono::steady_clock::now();
  };
};

// The tier a lookup reports when its MongoDB admission refused it (record: kUnavailable).
inline constexpr const char* kRefusedTier = "refused";

class LookupCache {
 public:
  using Done = std::function<void(CallRecord record, std::string tier, std::string sourceHint)>;
  // Asked at most once, when nothing in L1 or Redis answered and the lookup is about to query
  // MongoDB: true lets it through. A flight queries MongoDB when any of its waiters is let
  // through (or has no admission); the others then share the answer, which costs nothing
  // more. When every waiter refuses, each is answered with kRefusedTier and MongoDB is not
  // asked. Waiters joining once the query has started are not asked.
  using MongoAdmission = std::function<bool()>;

  // redis may be null (disabled).
  LookupCache(CallStore& calls, RedisClient* redis, reactor::Metrics& metrics, LookupSettings settings);
  LookupCache(LookupBackends backends, LookupRedis* redis, reactor::Metrics& metrics,
              LookupSettings settings);

  void resolve(LookupField field, const std::string& value, Done done, MongoAdmission admission = {});
  // Where the object was found ("storage", "fleet:1"): the next lookup tries it first.
  void noteSource(LookupField field, const std::string& value, const std::string& sourceLabel);
  // Drops the L1 entry and leaves a short-lived tombstone in Redis (token rotation, admin
  // evict): lookups write with SET NX, so an answer read from MongoDB before the eviction —
  // on this worker or another — cannot put the old record back. `done(redisOk)` may be empty.
  // With an invalidation bus, the eviction is also published (`reason`: "evict", "rotate",
  // "revoke"), so every worker of every gateway drops its L1 entry at once.
  // `storageKey`: the object's key when the caller knows it (else L1's, if any), for caches
  // of object bytes.
  void evict(LookupField field, const std::string& value, std::function<void(bool)> done = {},
             const char* reason = "evict", std::string storageKey = {});
  // Publishes evictions on `bus` and drops L1 entries on the events it delivers.
  void useInvalidationBus(InvalidationBus* bus);
  // Drops one L1 entry by its cache key (an invalidation event); an answer in flight for it
  // is not cached.
  void dropLocal(const std::string& cacheKey);
  // Writes a record straight into both tiers (warm-up, upload reports), with where the
  // object is when known (`sourceHint`, as noteSource).
  void store(LookupField field, const std::string& value, const CallRecord& record,
             std::function<void(bool)> done = {}, const std::string& sourceHint = "");

  // Looks at L1 without touching its order or expiry (diagnosis must not change state).
  std::optional<std::pair<CallRecord, std::string>> peek(LookupField field, const std::string& value) const;

  void setSettings(LookupSettings settings) { settings_ = settings; }
  size_t l1Size() const { return l1_.size(); }

 private:
  struct L1Entry {
    std::string cacheKey;
    CallRecord record;
    std::string hint;
    std::chrono::steady_clock::time_point expires;
  };
  struct Waiter {
    Done done;
    MongoAdmission admission;  // empty: always admitted
  };
  struct Flight {
    std::vector<Waiter> waiters;
    bool evicted = false;  // evicted while in flight: its answer must not be cached
  };

  L1Entry* l1Find(const std::string& key);
  void l1Put(const std::string& key, const CallRecord& record, const std::string& hint);
  void noteL1Size();
  void lookupRedis(const std::string& key, LookupField field, const std::string& value);
  // Nothing cached: query MongoDB if a waiter is admitted, else answer them all kRefusedTier.
  void admitToMongo(const std::string& key, LookupField field, const std::string& value);
  void lookupMongo(const std::string& key, LookupField field, const std::string& value);
  void land(const std::string& key, const CallRecord& record, const std::string& tier,
            const std::string& hint);
  void writeRedis(const std::string& key, const CallRecord& record, const std::string& hint);
  static constexpr int kTombstoneSeconds = 30;
  bool redisUsable() const;

  std::chrono::seconds l1TtlFor(const CallRecord& record) const;
  std::chrono::seconds redisTtlFor(const CallRecord& record) const;

  InvalidationBus* bus_ = nullptr;
  std::unique_ptr<LookupRedis> ownRedis_;  // the adapter of a RedisClient passed in
  LookupBackends backends_;
  LookupRedis* redis_;
  reactor::Metrics& metrics_;
  LookupSettings settings_;
  std::list<L1Entry> lru_;  // front = most recent
  std::unordered_map<std::string, std::list<L1Entry>::iterator> l1_;
  std::unordered_map<std::string, Flight> flights_;
  reactor::Liveness alive_;
};

}  // namespace recgw::storage
