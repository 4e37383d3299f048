#pragma once
// Per-client-address token bucket of failed public lookups (SPEC §2.6): a scanner that
// guesses tokens is answered 429 before its guesses reach Redis or MongoDB; successful
// lookups cost nothing. Per worker process. Loop thread only.
#include <chrono>
#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

namespace recgw::handlers {

class FailedLookupLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  FailedLookupLimiter(double perMinute, double burst, size_t maxAddresses = 100000)
      : ratePerSecond_(perMinute / 60.0), burst_(burst), maxAddresses_(maxAddresses) {}

  // Seconds until the next failure would be allowed; 0 when the address may look up now.
  int retryAfter(const std::string& address, Clock::time_point now = Clock::now());
  void recordFailure(const std::string& address, Clock::time_point now = Clock::now());
  // Gives back a unit charged by recordFailure. Public lookups charge when they start and
  // refund when they succeed, so lookups still in flight count against the bucket and a
  // scanner sending in parallel cannot outrun it.
  void refund(const std::string& address, Clock::time_point now = Clock::now());
  void configure(double perMinute, double burst) {
    ratePerSecond_ = perMinute / 60.0;
    burst_ = burst;
  }
  size_t tracked() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
  };
  void refill(Bucket& b, Clock::time_point now) const;
  void prune(Clock::time_point now);

  double ratePerSecond_;
  double burst_;
  size_t maxAddresses_;
  std::unordered_map<std::string, Bucket> buckets_;
};

// The client's address: the peer, or — when the peer is a trusted proxy — the right-most
// X-Forwarded-For entry that is not itself a trusted proxy.
std::string clientAddress(const std::string& peer, const char* forwardedFor,
                          const std::vector<std::string>& trustedProxies);

}  // namespace recgw::handlers
