#pragma once
// Serving recordings from the worker's object cache (storage/object_cache.h; README,
// "Object cache"). In front of the relay (handlers/stream_relay.h):
//   fresh copy        answered from memory, with the relay's answer for the same request
//                     (Range, suffix Range, HEAD, If-None-Match / If-Modified-Since → 304,
//                     If-Range), byte for byte and header for header; the body is handed to
//                     the connection by reference (no copy per request) and the entry stays
//                     alive until that response is written, even if it is evicted meanwhile;
//   stale copy        the request is relayed with If-None-Match: <cached ETag> to storage:
//                     304 refreshes the copy and answers from memory; any other answer drops
//                     the copy (a whole 200 fills it again, 404 is a 404);
//   no copy           counted toward admission (cache.object_admit_after requests within
//                     cache.object_fresh_s); a full GET fills the copy from the bytes relayed
//                     to its client (no second GET), only when storage answered 200 with a
//                     strong ETag and a length up to cache.object_max_bytes, the client got
//                     the whole body, and the object was admitted by the time it ended (a
//                     first request's body is kept on speculation, within an eighth of the
//                     budget, so that requests joining it are answered from it).
// Single flight: while a fill or a revalidation of an object is in flight, other requests
// for it wait for it (at most kMaxWait) and are answered from memory; when it leaves no
// fresh copy they are relayed as usual. A Range or HEAD request never fills (only a full GET
// does), but waits for a fill in flight.
// Loop thread only.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "fleet/source_chain.h"
#include "handlers/stream_relay.h"
#include "reactor/event_loop.h"
#include "reactor/exchange_ref.h"
#include "reactor/http_server.h"
#include "reactor/liveness.h"
#include "reactor/metrics.h"
#include "storage/call_store.h"
#include "storage/object_cache.h"

namespace recgw::handlers {

// Answers `conditions` from a whole cached object, as the relay answers them from storage.
void answerFromMemory(reactor::HttpExchange& ex, const std::shared_ptr<const storage::CachedObject>& object,
                      const ClientConditions& conditions);

class ObjectServer {
 public:
  // How long a request waits for another's fill or revalidation before it is relayed itself
  // (a fill goes at the pace of its own client).
  static constexpr std::chrono::milliseconds kMaxWait{2000};

  // `origin` names where storage is now (endpoint and bucket): a copy from another origin is
  // not served.
  ObjectServer(storage::ObjectCache& cache, RelayRegistry& relays, reactor::EventLoop& loop,
               reactor::Metrics& metrics, std::function<std::string()> origin);
  ~ObjectServer();

  // Serves the recording `chain` names. `field`/`value`: the id the request resolved,
  // remembered (as storage::cacheKey, never a raw token) so that an eviction of that id
  // drops the object too.
  void serve(reactor::HttpExchange& ex, fleet::SourceChain chain, ClientConditions conditions,
             std::function<void(const std::string&)> onSourceFound, storage::LookupField field,
             const std::string& value);

  storage::ObjectCache& cache() { return cache_; }
  // The drop entry point of local invalidations (token rotation, admin evict, lifecycle
  // archive/delete) and of the cross-worker bus: by storage key, or by lookup cache key.
  bool dropObject(const std::string& storageKey);
  bool dropAlias(const std::string& lookupCacheKey);
  // recgw_object_cache_bytes / _entries.
  void publishGauges();

 private:
  class Fill;
  struct Waiter {
    reactor::ExchangeRef request;
    fleet::SourceChain chain;
    ClientConditions conditions;
    std::function<void(const std::string&)> onSourceFound;
  };
  struct Flight {
    std::string key;
    bool revalidation = false;
    bool fillWanted = false;  // admitted: the owner's whole body fills the cache
    bool decided = false;     // the owner's first answer came and no body is being kept
    bool dropped = false;     // invalidated while in flight: what it read is not kept
    // A later flight for the key replaced this one (which outlived its waiters' patience):
    // only the latest may fill, so neither bytes read before an invalidation (which marks the
    // latest flight only) nor an older copy over a newer one can land in the cache.
    bool superseded = false;
    std::vector<Waiter> waiters;
    std::unique_ptr<reactor::Timer> patience;
  };

  void relay(reactor::HttpExchange& ex, fleet::SourceChain chain, ClientConditions conditions,
             std::function<void(const std::string&)> onSourceFound, std::shared_ptr<RelayTap> tap = nullptr);
  void serveHit(reactor::HttpExchange& ex, const std::shared_ptr<const storage::CachedObject>& object,
                const ClientConditions& conditions, const std::string& alias);
  std::shared_ptr<Flight> startFlight(const std::string& key, bool revalidation);
  // Room for a fill's buffer of `bytes`, not yet in the cache (released by the fill).
  bool reserveFill(uint64_t bytes, bool admitted);
  // The flight is over (or waited long enough): its waiters are answered from memory or relayed.
  void releaseWaiters(const std::shared_ptr<Flight>& flight);
  void endFlight(const std::shared_ptr<Flight>& flight);

  storage::ObjectCache& cache_;
  RelayRegistry& relays_;
  reactor::EventLoop& loop_;
  reactor::Metrics& metrics_;
  std::function<std::string()> origin_;
  uint64_t fillingBytes_ = 0;  // buffers of fills in flight
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;
  reactor::Liveness alive_;
};

}  // namespace recgw::handlers
