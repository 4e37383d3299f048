#include "handlers/failed_lookup_limiter.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace recgw::handlers {

void FailedLookupLimiter::refill(Bucket& b, Clock::time_point now) const {
  double elapsed = std::chrono::duration<double>(now - b.updated).count();
  if (elapsed > 0) b.tokens = std::min(burst_, b.tokens + elapsed * ratePerSecond_);
  b.updated = now;
}

int FailedLookupLimiter::retryAfter(const std::string& address, Clock::time_point now) {
  if (ratePerSecond_ <= 0) return 0;  // 0 per minute = no limit
  auto it = buckets_.find(address);
  if (it == buckets_.end()) return 0;
  refill(it->second, now);
  if (it->second.tokens >= 1.0) return 0;
  if (ratePerSecond_ <= 0) return 60;
  return std::max(1, static_cast<int>(std::ceil((1.0 - it->second.tokens) / ratePerSecond_)));
}

void FailedLookupLimiter::recordFailure(const std::string& address, Clock::time_point now) {
  if (ratePerSecond_ <= 0) return;
  auto it = buckets_.find(address);
  if (it == buckets_.end()) {
    if (buckets_.size() >= maxAddresses_) prune(now);
    it = buckets_.emplace(address, Bucket{burst_, now}).first;
  }
  refill(it->second, now);
  it->second.tokens = std::max(0.0, it->second.tokens - 1.0);
}

void FailedLookupLimiter::refund(const std::string& address, Clock::time_point now) {
  auto it = buckets_.find(address);
  if (it == buckets_.end()) return;
  refill(it->second, now);
  it->second.tokens = std::min(burst_, it->second.tokens + 1.0);
}

void FailedLookupLimiter::prune(Clock::time_point now) {
  // Full buckets carry no state worth keeping; if none are full, drop the fullest.
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    refill(it->second, now);
    it = it->second.tokens >= burst_ ? buckets_.erase(it) : std::next(it);
  }
  if (buckets_.size() >= maxAddresses_) {
    auto fullest = std::max_element(buckets_.begin(), buckets_.end(), [](const auto& a, const auto& b) {
      return a.second.tokens < b.second.tokens;
    });
    if (fullest != buckets_.end()) buckets_.erase(fullest);
  }
}

std::string clientAddress(const std::string& peer, const char* forwardedFor,
                          const std::vector<std::string>& trustedProxies) {
  auto trusted = [&](const std::string& a) {
    return std::find(trustedProxies.begin(), trustedProxies.end(), a) != trustedProxies.end();
  };
  if (!forwardedFor || !trusted(peer)) return peer;
  std::vector<std::string> hops;
  std::stringstream ss(forwardedFor);
  std::string hop;
  while (std::getline(ss, hop, ',')) {
    size_t b = hop.find_first_not_of(" \t");
    size_t e = hop.find_last_not_of(" \t");
    if (b != std::string::npos) hops.push_back(hop.substr(b, e - b + 1));
  }
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    if (!trusted(*it)) return *it;
  }
  return peer;
}

}  // namespace recgw::handlers
