#pragma once
// The one place that moves recording bytes from a source to a client (README, "Routes"):
// first source that answers wins; Range/HEAD/conditional semantics; per-stream watermarks
// pause the upstream transfer while the client is slow; a client that leaves cancels the
// transfer at once; a source that fails mid-body is resumed at the next byte (same
// source, then the next), and when nothing can continue the connection is closed so the
// client sees truncation, never a clean short body.
// An origin is not trusted to frame the response: a 206 must answer exactly the range it
// was asked for (a 206 to a request without Range, a Content-Range that overflows or
// disagrees with Content-Length makes the source fail, 502 when no other source serves),
// a resume must carry the same strong ETag as the first answer (no strong ETag: no
// resume), the upstream requests of one response are capped, and HttpExchange cuts the
// connection rather than send more or fewer bytes than the Content-Length it announced.
// A stream whose client has not drained for RelayLimits::parkAfter is parked: the transfer
// is cancelled, keeping only the offset handed to the client connection, the ETag and the
// source; when the client drains it resumes through the mid-body resume path (Range +
// If-Match, same source first), so a changed object cuts the connection. Only a strong
// ETag allows a park.
// Loop thread only.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "fleet/circuit_breaker.h"
#include "fleet/source_chain.h"
#include "handlers/http_semantics.h"
#include "reactor/curl_multi.h"
#include "reactor/http_server.h"
#include "reactor/metrics.h"

namespace recgw::handlers {

struct RelayLimits {
  size_t highWatermark = 256 * 1024;
  size_t lowWatermark = 64 * 1024;
  size_t globalBudgetBytes = 512ULL * 1024 * 1024;
  // A stream paused this long without its client draining is parked: its transfer and the
  // bytes curl holds are released; 0 never parks.
  std::chrono::milliseconds parkAfter{2000};
  // Body bytes from a plain-HTTP origin go to a client that keeps up with splice(2), never
  // copied through user space (stream.splice).
  bool spliceBodies = true;
};

// What the client asked for, captured before any asynchronous hop.
struct ClientConditions {
  bool head = false;
  std::optional<ByteRange> range;  // parsed; malformed/multi-range already dropped
  std::string ifNoneMatch;
  std::string ifModifiedSince;
  std::string ifRange;
  // Sent instead of the Content-Disposition derived from the key (a public link's
  // ?download=1); empty: derived.
  std::string contentDisposition;
  static ClientConditions from(reactor::HttpExchange& exchange);
};

// The headers of a recording's entity, as every answer that carries it sends them (the relay
// and the object cache alike, so both answer header for header the same): Content-Type,
// Content-Disposition, Content-Security-Policy, Accept-Ranges, ETag, Last-Modified,
// Content-Encoding. `originType`/`contentEncoding` as the origin sent them (null: absent);
// `disposition`, when not empty, replaces the default Content-Disposition (?download=1).
void addEntityHeaders(reactor::HttpExchange& ex, const std::string& key, const std::string* originType,
                      const std::string& etag, const std::string& lastModified,
                      const std::string* contentEncoding, std::string_view disposition = {});

// Watches one relay on behalf of the object cache (handlers/object_serving.h): it may ask the
// storage source to revalidate a cached copy, and is given the body of a whole answer to
// fill the cache from. Loop thread; the relay calls it from curl callbacks, so a tap
// starts no transfer itself.
class RelayTap {
 public:
  virtual ~RelayTap() = default;
  // Non-empty: the first request to storage carries If-None-Match with it.
  virtual const std::string& revalidateEtag() const = 0;
  // Storage answered 304 to revalidateEtag(): the relay answered nothing and is done; the
  // tap answers the exchange.
  virtual void notModified(reactor::HttpExchange& ex) = 0;
  // The relay is about to stream the whole object (200) from `source` with these headers:
  // true to be given its body.
  virtual bool wantBody(const fleet::Source& source, const reactor::UpstreamResponse& response,
                        std::optional<uint64_t> contentLength) = 0;
  // The body's bytes as they are handed to the client connection, in order.
  virtual void body(const char* data, size_t n) = 0;
  // The last `n` bytes given to body() were taken back from the client connection (a
  // park); they are given again when the stream resumes.
  virtual void rewind(size_t n) = 0;
  // Exactly once, when the relay ends: `complete` when the client was given the whole body.
  virtual void ended(bool complete) = 0;
};

class StreamRelay;

// Owns every relay of a worker; enforces the global budget of unsent bytes.
class RelayRegistry {
 public:
  // breakers may be null (no circuit breaking).
  RelayRegistry(reactor::EventLoop& loop, reactor::CurlMulti& curl, reactor::Metrics& metrics,
                RelayLimits limits, fleet::BreakerBoard* breakers = nullptr);
  ~RelayRegistry();

  // True when a new stream may start now (the unsent bytes of all streams are under budget).
  bool admit() const;
  // Starts relaying `chain` for the exchange. `onSourceFound(label)` is told which source
  // served the bytes (for lookup caching hints); may be empty.
  // `tap` (may be null) watches it for the object cache.
  void start(reactor::HttpExchange& exchange, fleet::SourceChain chain, ClientConditions conditions,
             std::function<void(const std::string& sourceLabel)> onSourceFound = {},
             std::shared_ptr<RelayTap> tap = nullptr);
  size_t active() const { return relays_.size(); }
  size_t paused() const;
  size_t parked() const;       // streams holding no transfer until their client reads again
  size_t unsentBytes() const;  // over all streams, as the global budget counts them
  void setLimits(RelayLimits limits) { limits_ = limits; }
  // Storage refused the credentials `refused` signed with (ExpiredToken …): `done` gets a
  // signer with fresh credentials, or null when there are none. Unset: no retry.
  using FreshSigner = std::function<void(std::shared_ptr<storage::SigV4Signer>)>;
  using CredentialRefresher = std::function<void(const storage::SigV4Signer* refused, FreshSigner done)>;
  void setCredentialRefresher(CredentialRefresher refresher) { refreshCredentials_ = std::move(refresher); }

 private:
  friend class StreamRelay;
  void retire(StreamRelay* relay);
  // Parked streams released buffers: give glibc's free memory back to the system shortly.
  void returnFreedMemorySoon();

  reactor::EventLoop& loop_;
  reactor::CurlMulti& curl_;
  reactor::Metrics& metrics_;
  RelayLimits limits_;
  fleet::BreakerBoard* breakers_;
  CredentialRefresher refreshCredentials_;
  std::chrono::steady_clock::time_point lastTrim_{};
  reactor::Timer trimTimer_;
  std::unordered_map<StreamRelay*, std::unique_ptr<StreamRelay>> relays_;
};

}  // namespace recgw::handlers
