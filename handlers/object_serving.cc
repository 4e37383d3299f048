#include "handlers/object_serving.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>

#include "reactor/libevent_handles.h"
#include "storage/lookup_cache.h"

namespace recgw::handlers {

using reactor::HttpExchange;
using storage::CachedObject;

namespace {

// The reference a response's output buffer holds on an entry: dropped once libevent has
// written (or discarded) the bytes, so an evicted entry lives exactly as long as needed.
void releaseReference(const void* /*data*/, size_t /*length*/, void* extra) {
  delete static_cast<std::shared_ptr<const CachedObject>*>(extra);
}

}  // namespace

// Mirrors StreamRelay's answers (stream_relay.cc: onHeaders, answerHead, answerUnsatisfiable)
// for an origin that honours Range the way S3 does: a Range that cannot be satisfied is 416
// before any condition is looked at; then If-None-Match (else If-Modified-Since) → 304; then
// If-Range, which turns a 206 into the whole object.
void answerFromMemory(HttpExchange& ex, const std::shared_ptr<const CachedObject>& object,
                      const ClientConditions& cond) {
  ex.noteOrigin("memory");
  const uint64_t size = object->bytes.size();
  std::optional<RangeResolution> range;
  if (cond.range && size > 0) range = resolveRange(*cond.range, size);
  if (!cond.head && range && range->outcome == RangeOutcome::kUnsatisfiable) {
    ex.addHeader("Content-Range", unsatisfiedContentRange(size));
    ex.addHeader("Accept-Ranges", "bytes");
    ex.replyError(416, "range_not_satisfiable", "the requested range is outside the recording");
    return;
  }
  bool notModified = false;
  if (!cond.ifNoneMatch.empty())
    notModified = ifNoneMatchMatches(cond.ifNoneMatch, object->etag);
  else if (!cond.ifModifiedSince.empty() && !object->lastModified.empty())
    notModified = notModifiedSince(cond.ifModifiedSince, object->lastModified);
  if (notModified) {
    if (!object->etag.empty()) ex.addHeader("ETag", object->etag);
    if (!object->lastModified.empty()) ex.addHeader("Last-Modified", object->lastModified);
    ex.replyHeadersOnly(304, std::nullopt);
    return;
  }
  const std::string* encoding = object->contentEncoding.empty() ? nullptr : &object->contentEncoding;
  addEntityHeaders(ex, object->key, object->hasContentType ? &object->contentType : nullptr, object->etag,
                   object->lastModified, encoding, cond.contentDisposition);
  if (cond.head) {
    if (range && range->outcome == RangeOutcome::kUnsatisfiable) {
      ex.addHeader("Content-Range", unsatisfiedContentRange(size));
      ex.replyHeadersOnly(416, 0);
    } else if (range) {
      ex.addHeader("Content-Range", contentRangeValue(range->range.first, range->range.last, size));
      ex.replyHeadersOnly(206, range->range.last - range->range.first + 1);
    } else {
      ex.replyHeadersOnly(200, size);
    }
    return;
  }
  int status = 200;
  uint64_t first = 0;
  uint64_t length = size;
  if (range && (cond.ifRange.empty() || ifRangeAllows(cond.ifRange, object->etag, object->lastModified))) {
    status = 206;
    first = range->range.first;
    length = range->range.last - range->range.first + 1;
    ex.addHeader("Content-Range", contentRangeValue(range->range.first, range->range.last, size));
  }
  ex.addHeader("Content-Length", std::to_string(length));
  ex.startStream(status);  // also lets the connection send up to 512 KiB per send()
  reactor::EvbufferPtr body(evbuffer_new());
  auto* reference = new std::shared_ptr<const CachedObject>(object);
  const char* data = object->bytes.data() + first;
  if (evbuffer_add_reference(body.get(), data, length, &releaseReference, reference) != 0) {
    delete reference;
    ex.abortStream();
    return;
  }
  // A chunk refused (the client gone, or more than declared: the exchange cut it already)
  // still has to end the exchange; endStream does nothing to one already ended.
  ex.sendChunk(body.get(), {});
  ex.endStream();
}

// The tap of the one relay a flight waits for: it fills (or refreshes) the entry and ends
// the flight.
class ObjectServer::Fill : public RelayTap {
 public:
  Fill(ObjectServer& server, std::shared_ptr<Flight> flight, std::string origin, std::string alias,
       std::shared_ptr<const CachedObject> stale, ClientConditions conditions)
      : server_(server),
        alive_(server.alive_),
        flight_(std::move(flight)),
        origin_(std::move(origin)),
        alias_(std::move(alias)),
        stale_(std::move(stale)),
        conditions_(std::move(conditions)) {
    if (stale_) revalidateEtag_ = stale_->etag;
  }

  const std::string& revalidateEtag() const override { return revalidateEtag_; }

  void notModified(HttpExchange& ex) override {
    confirmed_ = true;
    if (alive_.alive()) {
      storage::ObjectCache& cache = server_.cache_;
      // Unless it was dropped or replaced meanwhile, the entry is good for another while.
      auto current = cache.peek(flight_->key);
      if (current && current->etag == stale_->etag && !flight_->dropped) cache.refresh(flight_->key);
      server_.serveHit(ex, stale_, conditions_, alias_);
    } else {
      answerFromMemory(ex, stale_, conditions_);
    }
  }

  bool wantBody(const fleet::Source& source, const reactor::UpstreamResponse& response,
                std::optional<uint64_t> contentLength) override {
    if (!alive_.alive()) return false;
    storage::ObjectCache& cache = server_.cache_;
    const std::string* etag = response.find("etag");
    bool keep = source.kind == fleet::Source::Kind::kStorage && etag && isStrongEtag(*etag) &&
                contentLength && *contentLength > 0 && cache.fits(*contentLength) &&
                server_.reserveFill(*contentLength, flight_->fillWanted);
    if (!keep) {
      // Nobody will be answered from this one: the waiters go their own way now.
      flight_->decided = true;
      server_.releaseWaiters(flight_);
      return false;
    }
    auto object = std::make_shared<CachedObject>();
    object->key = flight_->key;
    object->origin = origin_;
    object->etag = *etag;
    if (const std::string* lm = response.find("last-modified")) object->lastModified = *lm;
    if (const std::string* type = response.find("content-type")) {
      object->contentType = *type;
      object->hasContentType = true;
    }
    if (const std::string* ce = response.find("content-encoding")) object->contentEncoding = *ce;
    object->bytes.reserve(*contentLength);
    expected_ = *contentLength;
    reserved_ = *contentLength;
    filling_ = std::move(object);
    return true;
  }

  void body(const char* data, size_t n) override {
    if (!filling_) return;
    if (filling_->bytes.size() + n > expected_) {
      filling_.reset();  // longer than declared: the relay cuts it; nothing is kept
      return;
    }
    filling_->bytes.append(data, n);
  }

  void rewind(size_t n) override {
    if (!filling_) return;
    if (n > filling_->bytes.size()) {
      filling_.reset();
      return;
    }
    filling_->bytes.resize(filling_->bytes.size() - n);
  }

  void ended(bool complete) override {
    if (!alive_.alive()) return;
    storage::ObjectCache& cache = server_.cache_;
    if (!confirmed_) {
      bool stored = false;
      // Dropped while in flight: these bytes may be the object as it was before.
      // Kept only when admitted by now: a request that joined while the body was coming counts.
      if (filling_ && flight_->fillWanted && complete && !flight_->dropped && !flight_->superseded &&
          filling_->bytes.size() == expected_) {
        stored = cache.insert(std::move(filling_));
        if (stored && !alias_.empty()) cache.noteAlias(alias_, flight_->key);
      }
      // A revalidation that did not confirm the copy (changed, gone, failed): never served again.
      if (!stored && stale_) {
        auto current = cache.peek(flight_->key);
        if (current && current->etag == stale_->etag && cache.dropObject(flight_->key)) {
          server_.metrics_.inc("recgw_object_cache_evictions_total",
                               reactor::Metrics::label("reason", "changed"));
        }
      }
    }
    filling_.reset();
    server_.fillingBytes_ -= reserved_;
    reserved_ = 0;
    server_.publishGauges();
    server_.endFlight(flight_);
  }

 private:
  ObjectServer& server_;
  reactor::LivenessWatch alive_;
  std::shared_ptr<Flight> flight_;
  std::string origin_;
  std::string alias_;
  std::shared_ptr<const CachedObject> stale_;  // the copy being revalidated, if any
  ClientConditions conditions_;
  std::string revalidateEtag_;
  std::shared_ptr<CachedObject> filling_;
  uint64_t expected_ = 0;
  uint64_t reserved_ = 0;  // of ObjectServer::fillingBytes_
  bool confirmed_ = false;
};

ObjectServer::ObjectServer(storage::ObjectCache& cache, RelayRegistry& relays, reactor::EventLoop& loop,
                           reactor::Metrics& metrics, std::function<std::string()> origin)
    : cache_(cache), relays_(relays), loop_(loop), metrics_(metrics), origin_(std::move(origin)) {
  using Type = reactor::Metrics::Type;
  metrics_.describe("recgw_object_cache_hits_total", Type::kCounter,
                    "Recording requests answered from memory");
  metrics_.describe("recgw_object_cache_misses_total", Type::kCounter,
                    "Recording requests relayed from a source while the object cache is on");
  metrics_.describe("recgw_object_cache_revalidations_total", Type::kCounter,
                    "Conditional requests to storage for a cached object past cache.object_fresh_s");
  metrics_.describe("recgw_object_cache_evictions_total", Type::kCounter,
                    "Objects that left the cache, by reason (budget, dropped, changed)");
  metrics_.describe("recgw_object_cache_bytes", Type::kGauge, "Bytes charged to the object cache");
  metrics_.describe("recgw_object_cache_entries", Type::kGauge, "Objects in the object cache");
  cache_.setOnEvict([this](const std::string&) {
    metrics_.inc("recgw_object_cache_evictions_total", reactor::Metrics::label("reason", "budget"));
  });
  publishGauges();
}

ObjectServer::~ObjectServer() {
  cache_.setOnEvict({});
  alive_.invalidate();
}

void ObjectServer::publishGauges() {
  metrics_.set("recgw_object_cache_bytes", {}, static_cast<double>(cache_.bytes()));
  metrics_.set("recgw_object_cache_entries", {}, static_cast<double>(cache_.entries()));
}

bool ObjectServer::reserveFill(uint64_t bytes, bool admitted) {
  // Admitted fills may together hold as much as the cache; the body of a first request is
  // kept on speculation (a second request may join it while it comes) only within an
  // eighth of that, so a burst of one-off downloads costs little memory and no copy is kept.
  const uint64_t limit = admitted ? cache_.settings().budgetBytes : cache_.settings().budgetBytes / 8;
  if (fillingBytes_ + bytes > limit) return false;
  fillingBytes_ += bytes;
  return true;
}

bool ObjectServer::dropObject(const std::string& storageKey) {
  if (auto it = flights_.find(storageKey); it != flights_.end()) it->second->dropped = true;
  bool dropped = cache_.dropObject(storageKey);
  if (dropped) {
    metrics_.inc("recgw_object_cache_evictions_total", reactor::Metrics::label("reason", "dropped"));
    publishGauges();
  }
  return dropped;
}

bool ObjectServer::dropAlias(const std::string& lookupCacheKey) {
  if (auto key = cache_.aliasTarget(lookupCacheKey)) {
    if (auto it = flights_.find(*key); it != flights_.end()) it->second->dropped = true;
  }
  bool dropped = cache_.dropAlias(lookupCacheKey);
  if (dropped) {
    metrics_.inc("recgw_object_cache_evictions_total", reactor::Metrics::label("reason", "dropped"));
    publishGauges();
  }
  return dropped;
}

void ObjectServer::relay(HttpExchange& ex, fleet::SourceChain chain, ClientConditions conditions,
                         std::function<void(const std::string&)> onSourceFound,
                         std::shared_ptr<RelayTap> tap) {
  relays_.start(ex, std::move(chain), std::move(conditions), std::move(onSourceFound), std::move(tap));
}

void ObjectServer::serveHit(HttpExchange& ex, const std::shared_ptr<const CachedObject>& object,
                            const ClientConditions& conditions, const std::string& alias) {
  metrics_.inc("recgw_object_cache_hits_total");
  if (!alias.empty()) cache_.noteAlias(alias, object->key);
  answerFromMemory(ex, object, conditions);
}

std::shared_ptr<ObjectServer::Flight> ObjectServer::startFlight(const std::string& key, bool revalidation) {
  auto flight = std::make_shared<Flight>();
  flight->key = key;
  flight->revalidation = revalidation;
  std::weak_ptr<Flight> weak = flight;
  flight->patience = std::make_unique<reactor::Timer>(loop_, [this, weak] {
    if (auto f = weak.lock()) {
      f->decided = true;
      releaseWaiters(f);
    }
  });
  flight->patience->startOnce(kMaxWait);
  auto& slot = flights_[key];
  if (slot) slot->superseded = true;  // a decided flight it replaces ends on its own, unfilled
  slot = flight;
  return flight;
}

void ObjectServer::endFlight(const std::shared_ptr<Flight>& flight) {
  auto it = flights_.find(flight->key);
  if (it != flights_.end() && it->second == flight) flights_.erase(it);
  flight->decided = true;
  if (flight->patience) flight->patience->cancel();
  releaseWaiters(flight);
}

void ObjectServer::releaseWaiters(const std::shared_ptr<Flight>& flight) {
  std::vector<Waiter> waiters = std::move(flight->waiters);
  flight->waiters.clear();
  if (waiters.empty()) return;
  // Answered on the next pass: the flight may end inside a curl callback, where no relay
  // may start a transfer.
  reactor::LivenessWatch alive = alive_;
  loop_.defer([this, alive, key = flight->key, waiters = std::move(waiters)]() mutable {
    if (alive.expired()) return;
    for (Waiter& w : waiters) {
      w.request.with([&](HttpExchange& ex) {
        storage::ObjectCache::Found found = cache_.find(key);
        if (found.object && found.fresh) return serveHit(ex, found.object, w.conditions, {});
        metrics_.inc("recgw_object_cache_misses_total");
        relay(ex, std::move(w.chain), std::move(w.conditions), std::move(w.onSourceFound));
      });
    }
  });
}

void ObjectServer::serve(HttpExchange& ex, fleet::SourceChain chain, ClientConditions conditions,
                         std::function<void(const std::string&)> onSourceFound, storage::LookupField field,
                         const std::string& value) {
  if (!cache_.enabled()) return relay(ex, std::move(chain), std::move(conditions), std::move(onSourceFound));
  const std::string key = chain.key();
  const std::string origin = origin_ ? origin_() : std::string();
  storage::ObjectCache::Found found = cache_.find(key);
  if (found.object && found.object->origin != origin) {
    // Storage settings changed (another endpoint or bucket): that copy is of another object.
    dropObject(key);
    found = {};
  }
  const std::string alias = storage::cacheKey(field, value);
  if (found.object && found.fresh) return serveHit(ex, found.object, conditions, alias);

  if (auto it = flights_.find(key); it != flights_.end() && !it->second->decided) {
    Flight& flight = *it->second;
    if (!found.object && !flight.revalidation && cache_.noteMiss(key)) flight.fillWanted = true;
    flight.waiters.push_back(
        Waiter{reactor::ExchangeRef(ex), std::move(chain), std::move(conditions), std::move(onSourceFound)});
    return;
  }

  if (found.object) {
    // Past cache.object_fresh_s: storage says whether it is still the object.
    metrics_.inc("recgw_object_cache_revalidations_total");
    auto flight = startFlight(key, true);
    flight->fillWanted = true;  // a changed object's whole 200 replaces the copy
    chain.preferFirst("storage");
    auto tap = std::make_shared<Fill>(*this, flight, origin, alias, found.object, conditions);
    return relay(ex, std::move(chain), std::move(conditions), std::move(onSourceFound), std::move(tap));
  }

  metrics_.inc("recgw_object_cache_misses_total");
  const bool admitted = cache_.noteMiss(key);
  if (conditions.head || conditions.range) {
    // Only a whole body fills; a Range or HEAD miss is relayed as it is.
    return relay(ex, std::move(chain), std::move(conditions), std::move(onSourceFound));
  }
  auto flight = startFlight(key, false);
  flight->fillWanted = admitted;
  auto tap = std::make_shared<Fill>(*this, flight, origin, alias, nullptr, conditions);
  relay(ex, std::move(chain), std::move(conditions), std::move(onSourceFound), std::move(tap));
}

}  // namespace recgw::handlers
