#pragma once
// Invalidation across workers and gateways: revocation, rotation and admin cache eviction
// are published on the Redis channel `recgw:invalidate`; every worker of every gateway
// keeps one subscribed connection and hands each event to its local listeners (the lookup
// cache drops its L1 entry; other caches, e.g. of object bytes, register the same way).
//
// The subscriber is a RedisClient in subscribe mode, so it logs in exactly as the lookup
// connection does (password, ACL user, database, Sentinel) and comes back after a Redis
// restart with the client's backoff, never blocking the loop. While Redis is down nothing
// is delivered across workers: the L1 TTL bounds how long another worker serves an entry.
// Loop thread only.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reactor/liveness.h"
#include "reactor/metrics.h"
#include "storage/call_store.h"
#include "storage/redis_client.h"

namespace recgw::storage {

inline constexpr const char* kInvalidationChannel = "recgw:invalidate";

struct InvalidationEvent {
  LookupField field = LookupField::kToken;
  // The SHA-256 hex of the token (a raw token never leaves the process), or the session id.
  std::string value;
  std::string storageKey;  // the object's key when the publisher knew it, else empty
  std::string reason;      // "revoke", "rotate", "evict"
  std::string origin;      // the publishing worker's random id (it has applied the event already)
  // About an object only (a lifecycle archive or delete): no lookup entry is named, only
  // storageKey, whose cached bytes are dropped.
  bool objectOnly = false;

  // The lookup cache's key for this entry ("recgw:tok:<hash>" / "recgw:sid:<id>").
  std::string cacheKey() const;
  // An event about a token, from the raw token (hashed here).
  static InvalidationEvent forToken(const std::string& token, std::string reason,
                                    std::string storageKey = {});
  static InvalidationEvent forSession(const std::string& sessionId, std::string reason,
                                      std::string storageKey = {});
  static InvalidationEvent forObject(std::string storageKey, std::string reason);
};

// The message text on the channel (JSON), and back. Pure; exposed for tests. decode refuses
// anything malformed (a foreign publisher on the channel must not crash or confuse us).
std::string encodeInvalidation(const InvalidationEvent& event);
std::optional<InvalidationEvent> decodeInvalidation(std::string_view text);

class InvalidationBus {
 public:
  using Listener = std::function<void(const InvalidationEvent&)>;

  // `publisher`: the worker's ordinary Redis connection (null: Redis disabled, events stay
  // local). `subscriber`: a RedisClient this bus puts in subscribe mode and starts (null:
  // no cross-worker delivery).
  InvalidationBus(RedisClient* publisher, std::unique_ptr<RedisClient> subscriber, reactor::Metrics& metrics);
  InvalidationBus(const InvalidationBus&) = delete;
  InvalidationBus& operator=(const InvalidationBus&) = delete;

  // Local listeners, called for events of this worker (at once, from publish) and of every
  // other worker or gateway (when their message arrives). What a listener throws is logged
  // and the others still run.
  void addListener(Listener listener);
  // Applies the event here and publishes it to everyone else. `done(published)` may be empty.
  void publish(InvalidationEvent event, std::function<void(bool)> done = {});
  void start();
  // The subscription is confirmed by Redis (events of other workers arrive).
  bool subscribed() const { return subscriber_ && subscriber_->connected(); }
  const RedisClient* subscriber() const { return subscriber_.get(); }

 private:
  void deliver(const InvalidationEvent& event);
  void onMessage(const std::string& text);

  RedisClient* publisher_;
  std::unique_ptr<RedisClient> subscriber_;
  reactor::Metrics& metrics_;
  std::string origin_;
  std::vector<Listener> listeners_;
  reactor::Liveness alive_;
};

}  // namespace recgw::storage
