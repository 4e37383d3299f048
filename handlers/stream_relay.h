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
  void start(reactor::HttpExchange& exchange, fleet::SourceChain chain, ClientConditions conditions,
             std::function<void(const std::string& sourceLabel)> onSourceFound = {});
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
