#include "storage/lookup_cache.h"

#include <simdjson.h>

#include "reactor/json_writer.h"
#include "reactor/logger.h"
#include "storage/crypto.h"
#include "storage/public_link.h"

namespace recgw::storage {
namespace {

const char* outcomeName(CallRecord::Outcome o) {
  switch (o) {
    case CallRecord::Outcome::kFound:
      return "found";
    case CallRecord::Outcome::kNoCall:
      return "no_call";
    case CallRecord::Outcome::kNoKey:
      return "no_key";
    case CallRecord::Outcome::kUnavailable:
      return "unavailable";
  }
  return "unavailable";
}

std::string tierLabel(const char* tier) { return reactor::Metrics::label("tier", tier); }

class RedisClientAdapter : public LookupRedis {
 public:
  explicit RedisClientAdapter(RedisClient& client) : client_(client) {}
  bool connected() const override { return client_.connected(); }
  void command(std::vector<std::string> args, RedisClient::Callback callback) override {
    client_.command(std::move(args), std::move(callback));
  }

 private:
  RedisClient& client_;
};

std::unique_ptr<LookupRedis> adapt(RedisClient* redis) {
  return redis ? std::make_unique<RedisClientAdapter>(*redis) : nullptr;
}

LookupBackends backendsOf(CallStore& calls) {
  LookupBackends backends;
  backends.findCall = [&calls](LookupField field, const std::string& value,
                               std::function<void(CallRecord)> done) {
    calls.find(field, value, std::move(done));
  };
  return backends;
}

}  // namespace

std::string cacheKey(LookupField field, const std::string& value) {
  return field == LookupField::kToken ? "recgw:tok:" + crypto::sha256Hex(value) : "recgw:sid:" + value;
}

std::string encodeCachedRecord(const CallRecord& r, const std::string& hint) {
  reactor::JsonWriter w;
  w.beginObject().field("v", 1).field("o", outcomeName(r.outcome));
  if (r.outcome == CallRecord::Outcome::kFound) {
    w.field("k", r.key).field("d", r.keyDerivation);
    if (!hint.empty()) w.field("h", hint);
  }
  if (!r.sessionId.empty()) w.field("sid", r.sessionId);
  if (!r.accountId.empty()) w.field("a", r.accountId);
  if (!r.recordingStatus.empty()) w.field("s", r.recordingStatus);
  if (r.linkRevoked) w.field("rv", 1);
  if (r.recordingDeleted) w.field("del", 1);
  if (r.accessExpiresAtMs > 0) w.field("x", r.accessExpiresAtMs);
  w.endObject();
  return w.take();
}

std::optional<std::pair<CallRecord, std::string>> decodeCachedRecord(std::string_view text) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  simdjson::dom::element doc;
  if (parser.parse(padded).get(doc)) return std::nullopt;
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) return std::nullopt;
  auto str = [&](const char* name) -> std::string {
    std::string_view v;
    if (obj[name].get_string().get(v)) return {};
    return std::string(v);
  };
  CallRecord r;
  std::string outcome = str("o");
  if (outcome == "found")
    r.outcome = CallRecord::Outcome::kFound;
  else if (outcome == "no_call")
    r.outcome = CallRecord::Outcome::kNoCall;
  else if (outcome == "no_key")
    r.outcome = CallRecord::Outcome::kNoKey;
  else
    return std::nullopt;
  r.key = str("k");
  r.keyDerivation = str("d");
  r.sessionId = str("sid");
  r.accountId = str("a");
  r.recordingStatus = str("s");
  int64_t flag = 0;
  r.linkRevoked = !obj["rv"].get_int64().get(flag) && flag == 1;
  flag = 0;
  r.recordingDeleted = !obj["del"].get_int64().get(flag) && flag == 1;
  int64_t expires = 0;
  if (!obj["x"].get_int64().get(expires) && expires > 0) r.accessExpiresAtMs = expires;
  if (r.outcome == CallRecord::Outcome::kFound && r.key.empty()) return std::nullopt;
  return std::make_pair(std::move(r), str("h"));
}

LookupCache::LookupCache(CallStore& calls, RedisClient* redis, reactor::Metrics& metrics,
                         LookupSettings settings)
    : LookupCache(backendsOf(calls), nullptr, metrics, settings) {
  ownRedis_ = adapt(redis);
  redis_ = ownRedis_.get();
}

LookupCache::LookupCache(LookupBackends backends, LookupRedis* redis, reactor::Metrics& metrics,
                         LookupSettings settings)
    : backends_(std::move(backends)), redis_(redis), metrics_(metrics), settings_(settings) {
  using T = reactor::Metrics::Type;
  metrics_.describe("recgw_lookup_hits_total", T::kCounter, "Lookups answered, by tier (l1, redis, mongo)");
  metrics_.describe("recgw_lookup_l1_entries", T::kGauge, "Entries in the in-process lookup cache");
  metrics_.set("recgw_lookup_l1_entries", {}, 0);
  metrics_.describe("recgw_lookup_misses_total", T::kCounter, "Lookups a tier could not answer, by tier");
  metrics_.describe("recgw_lookup_singleflight_joins_total", T::kCounter,
                    "Lookups that joined one already in flight");
  metrics_.describe("recgw_redis_errors_total", T::kCounter, "Redis commands that failed or timed out");
  metrics_.describe("recgw_lookup_degraded_total", T::kCounter,
                    "Lookups that skipped Redis (down or failing)");
  metrics_.describe("recgw_mongo_queries_total", T::kCounter, "Call lookups sent to MongoDB");
  metrics_.describe("recgw_lookup_refused_total", T::kCounter,
                    "Lookups not sent to MongoDB because their admission refused them");
  metrics_.describe("recgw_mongo_errors_total", T::kCounter, "Call lookups MongoDB could not answer");
  metrics_.describe(
      "recgw_lookup_seconds", T::kHistogram, "Lookup latency by tier",
      {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5});
}

bool LookupCache::redisUsable() const { return redis_ && redis_->connected(); }

LookupCache::L1Entry* LookupCache::l1Find(const std::string& key) {
  auto it = l1_.find(key);
  if (it == l1_.end()) return nullptr;
  if (backends_.now() >= it->second->expires) {
    lru_.erase(it->second);
    l1_.erase(it);
    noteL1Size();
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  return &*it->second;
}

void LookupCache::l1Put(const std::string& key, const CallRecord& record, const std::string& hint) {
  if (settings_.l1Entries == 0 || settings_.l1Ttl.count() == 0) return;
  auto expires = backends_.now() + l1TtlFor(record);
  auto it = l1_.find(key);
  if (it != l1_.end()) {
    it->second->record = record;
    it->second->hint = hint;
    it->second->expires = expires;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.push_front(L1Entry{key, record, hint, expires});
  l1_[key] = lru_.begin();
  // Expired entries are otherwise dropped only when their key is asked for again, so traffic
  // of distinct keys (scanners, warm-ups, one-off links) would fill the cache to l1Entries
  // with dead ones: each insert also drops the expired entries at the cold end.
  auto now = backends_.now();
  while (!lru_.empty() && (l1_.size() > settings_.l1Entries || lru_.back().expires <= now)) {
    l1_.erase(lru_.back().cacheKey);
    lru_.pop_back();
  }
  noteL1Size();
}

std::chrono::seconds LookupCache::l1TtlFor(const CallRecord& record) const {
  if (isTransientRecordingStatus(record.recordingStatus) || record.recordingDeleted)
    return std::min(settings_.l1Ttl, settings_.notReadyTtl);
  if (record.outcome == CallRecord::Outcome::kFound || record.linkRevoked) return settings_.l1Ttl;
  return std::min(settings_.l1Ttl, settings_.redisTtlMiss);
}

std::chrono::seconds LookupCache::redisTtlFor(const CallRecord& record) const {
  if (isTransientRecordingStatus(record.recordingStatus) || record.recordingDeleted)
    return settings_.notReadyTtl;
  // A revocation is for good: kept like a hit.
  if (record.outcome == CallRecord::Outcome::kFound || record.linkRevoked) return settings_.redisTtlHit;
  return settings_.redisTtlMiss;
}

void LookupCache::noteL1Size() {
  metrics_.set("recgw_lookup_l1_entries", {}, static_cast<double>(l1_.size()));
}

void LookupCache::resolve(LookupField field, const std::string& value, Done done, MongoAdmission admission) {
  std::string key = cacheKey(field, value);
  if (L1Entry* e = l1Find(key)) {
    metrics_.inc("recgw_lookup_hits_total", tierLabel("l1"));
    done(e->record, "l1", e->hint);
    return;
  }
  metrics_.inc("recgw_lookup_misses_total", tierLabel("l1"));
  auto [it, fresh] = flights_.try_emplace(key);
  it->second.waiters.push_back(Waiter{std::move(done), std::move(admission)});
  if (!fresh) {
    metrics_.inc("recgw_lookup_singleflight_joins_total");
    return;
  }
  if (redisUsable()) {
    lookupRedis(key, field, value);
  } else {
    if (redis_) metrics_.inc("recgw_lookup_degraded_total");
    admitToMongo(key, field, value);
  }
}

void LookupCache::lookupRedis(const std::string& key, LookupField field, const std::string& value) {
  auto started = backends_.now();
  reactor::LivenessWatch alive = alive_;
  redis_->command({"GET", key}, [this, alive, key, field, value, started](const RedisReply& reply) {
    if (alive.expired()) return;
    metrics_.observe("recgw_lookup_seconds", tierLabel("redis"),
                     std::chrono::duration<double>(backends_.now() - started).count());
    if (reply.kind == RedisReply::Kind::kString) {
      if (auto decoded = decodeCachedRecord(reply.text)) {
        metrics_.inc("recgw_lookup_hits_total", tierLabel("redis"));
        land(key, decoded->first, "redis", decoded->second);
        return;
      }
    }
    if (reply.kind == RedisReply::Kind::kError) {
      metrics_.inc("recgw_redis_errors_total");
      metrics_.inc("recgw_lookup_degraded_total");
    } else {
      metrics_.inc("recgw_lookup_misses_total", tierLabel("redis"));
    }
    admitToMongo(key, field, value);
  });
}

void LookupCache::admitToMongo(const std::string& key, LookupField field, const std::string& value) {
  auto it = flights_.find(key);
  if (it == flights_.end()) return;
  Flight& flight = it->second;
  // One admitted waiter pays for the query; the rest share its answer.
  bool admitted = false;
  for (auto& w : flight.waiters) {
    if (!w.admission || w.admission()) {
      admitted = true;
      break;
    }
  }
  if (admitted) {
    lookupMongo(key, field, value);
    return;
  }
  std::vector<Waiter> waiters = std::move(flight.waiters);
  flights_.erase(it);
  metrics_.inc("recgw_lookup_refused_total", {}, static_cast<double>(waiters.size()));
  CallRecord refused;
  refused.outcome = CallRecord::Outcome::kUnavailable;
  refused.error = "MongoDB lookup refused by its admission (failed-lookup limit)";
  for (auto& w : waiters) w.done(refused, kRefusedTier, "");
}

void LookupCache::lookupMongo(const std::string& key, LookupField field, const std::string& value) {
  auto started = backends_.now();
  metrics_.inc("recgw_mongo_queries_total");
  reactor::LivenessWatch alive = alive_;
  backends_.findCall(field, value, [this, alive, key, started](CallRecord record) {
    if (alive.expired()) return;
    metrics_.observe("recgw_lookup_seconds", tierLabel("mongo"),
                     std::chrono::duration<double>(backends_.now() - started).count());
    auto flight = flights_.find(key);
    bool evicted = flight != flights_.end() && flight->second.evicted;
    if (record.outcome == CallRecord::Outcome::kUnavailable) {
      metrics_.inc("recgw_mongo_errors_total");
    } else {
      metrics_.inc("recgw_lookup_hits_total", tierLabel("mongo"));
      if (!evicted) writeRedis(key, record, "");
    }
    land(key, record, "mongo", "");
  });
}

void LookupCache::land(const std::string& key, const CallRecord& record, const std::string& tier,
                       const std::string& hint) {
  auto it = flights_.find(key);
  bool evicted = it != flights_.end() && it->second.evicted;
  // A not-ready answer read from Redis stays out of L1: how long it has left in Redis is not
  // known, and a fresh L1 TTL on top let it outlive public.not_ready_ttl_s (up to twice as
  // long, when the lookup came just before the Redis entry expired), so a finished recording
  // kept answering 503.
  bool notReadyFromRedis = tier == "redis" && (isTransientRecordingStatus(record.recordingStatus) ||
                                               record.recordingDeleted);
  if (record.outcome != CallRecord::Outcome::kUnavailable && !evicted && !notReadyFromRedis)
    l1Put(key, record, hint);
  if (it == flights_.end()) return;
  std::vector<Waiter> waiters = std::move(it->second.waiters);
  flights_.erase(it);
  for (auto& w : waiters) w.done(record, tier, hint);
}

void LookupCache::writeRedis(const std::string& key, const CallRecord& record, const std::string& hint) {
  if (!redisUsable()) return;
  auto ttl = redisTtlFor(record);
  // NX: never over an eviction tombstone (see evict()).
  redis_->command({"SET", key, encodeCachedRecord(record, hint), "EX", std::to_string(ttl.count()), "NX"},
                  [this, alive = reactor::LivenessWatch(alive_)](const RedisReply& r) {
                    if (!alive.expired() && !r.ok()) metrics_.inc("recgw_redis_errors_total");
                  });
}

std::optional<std::pair<CallRecord, std::string>> LookupCache::peek(LookupField field,
                                                                    const std::string& value) const {
  auto it = l1_.find(cacheKey(field, value));
  if (it == l1_.end() || backends_.now() >= it->second->expires) return std::nullopt;
  return std::make_pair(it->second->record, it->second->hint);
}

void LookupCache::noteSource(LookupField field, const std::string& value, const std::string& sourceLabel) {
  std::string key = cacheKey(field, value);
  auto it = l1_.find(key);
  if (it == l1_.end() || it->second->hint == sourceLabel) return;
  it->second->hint = sourceLabel;
  if (!redisUsable()) return;
  // Only over a live record: never over an eviction tombstone (a lookup that raced the
  // eviction may still be streaming and report where it found the old object).
  static const char* kScript =
      "local v = redis.call('GET', KEYS[1]) "
      "if v and not string.find(v, '\"o\":\"evicted\"', 1, true) then "
      "return redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL') end return false";
  redis_->command({"EVAL", kScript, "1", key, encodeCachedRecord(it->second->record, sourceLabel)},
                  [](const RedisReply&) {});
}

void LookupCache::dropLocal(const std::string& key) {
  if (auto it = l1_.find(key); it != l1_.end()) {
    lru_.erase(it->second);
    l1_.erase(it);
    noteL1Size();
  }
  if (auto flight = flights_.find(key); flight != flights_.end()) flight->second.evicted = true;
}

void LookupCache::useInvalidationBus(InvalidationBus* bus) {
  bus_ = bus;
  if (!bus_) return;
  bus_->addListener([this, alive = reactor::LivenessWatch(alive_)](const InvalidationEvent& event) {
    if (alive.alive() && !event.objectOnly) dropLocal(event.cacheKey());
  });
}

void LookupCache::evict(LookupField field, const std::string& value, std::function<void(bool)> done,
                        const char* reason, std::string storageKey) {
  std::string key = cacheKey(field, value);
  if (bus_) {
    if (auto it = l1_.find(key); it != l1_.end() && storageKey.empty()) storageKey = it->second->record.key;
  }
  dropLocal(key);
  // The tombstone goes out before the event, on the same connection (the bus publishes on
  // it), so Redis has it when another worker that got the event looks the key up again.
  if (redisUsable()) {
    redis_->command({"SET", key, R"({"v":1,"o":"evicted"})", "EX", std::to_string(kTombstoneSeconds)},
                    [done](const RedisReply& r) {
                      if (done) done(r.ok());
                    });
  }
  if (bus_) {
    bus_->publish(field == LookupField::kToken ? InvalidationEvent::forToken(value, reason, storageKey)
                                               : InvalidationEvent::forSession(value, reason, storageKey));
  }
  if (!redisUsable() && done) done(false);
}

void LookupCache::store(LookupField field, const std::string& value, const CallRecord& record,
                        std::function<void(bool)> done, const std::string& sourceHint) {
  std::string key = cacheKey(field, value);
  l1Put(key, record, sourceHint);
  if (!redisUsable()) {
    if (done) done(false);
    return;
  }
  auto ttl = redisTtlFor(record);
  redis_->command({"SET", key, encodeCachedRecord(record, sourceHint), "EX", std::to_string(ttl.count())},
                  [done](const RedisReply& r) {
                    if (done) done(r.ok());
                  });
}

}  // namespace recgw::storage
