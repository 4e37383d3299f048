#include "fleet/circuit_breaker.h"

#include "storage/url_redaction.h"

namespace recgw::fleet {

std::string breakerOriginName(std::string_view label, std::string_view url) {
  return std::string(label) + " " + storage::redactUrl(url);
}

const char* breakerStateName(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half_open";
  }
  return "closed";
}

void BreakerBoard::transition(const std::string& origin, Breaker& b, BreakerState next) {
  if (b.state == next) return;
  BreakerState old = b.state;
  b.state = next;
  if (onChange_) onChange_(origin, old, next);
}

void BreakerBoard::refresh(const std::string& origin, Breaker& b, Clock::time_point now) {
  if (b.state == BreakerState::kOpen && now - b.openedAt >= settings_.coolDown) {
    b.probeInFlight = false;
    transition(origin, b, BreakerState::kHalfOpen);
  }
}

bool BreakerBoard::allow(const std::string& origin, Clock::time_point now) {
  Breaker& b = breakers_[origin];
  refresh(origin, b, now);
  switch (b.state) {
    case BreakerState::kClosed:
      return true;
    case BreakerState::kOpen:
      return false;
    case BreakerState::kHalfOpen:
      // One probe at a time; the rest keep skipping until it answers. A probe whose
      // request was abandoned (client gone) is replaced after another cool-down.
      if (b.probeInFlight && now - b.probeStartedAt < settings_.coolDown) return false;
      b.probeInFlight = true;
      b.probeStartedAt = now;
      return true;
  }
  return true;
}

void BreakerBoard::recordSuccess(const std::string& origin) {
  Breaker& b = breakers_[origin];
  b.consecutiveFailures = 0;
  b.probeInFlight = false;
  transition(origin, b, BreakerState::kClosed);
}

void BreakerBoard::recordFailure(const std::string& origin, Clock::time_point now) {
  Breaker& b = breakers_[origin];
  ++b.consecutiveFailures;
  b.probeInFlight = false;
  if (b.state == BreakerState::kHalfOpen || b.consecutiveFailures >= settings_.failureThreshold) {
    b.openedAt = now;
    transition(origin, b, BreakerState::kOpen);
  }
}

BreakerState BreakerBoard::state(const std::string& origin, Clock::time_point now) {
  auto it = breakers_.find(origin);
  if (it == breakers_.end()) return BreakerState::kClosed;
  refresh(origin, it->second, now);
  return it->second.state;
}

std::map<std::string, BreakerState> BreakerBoard::snapshot(Clock::time_point now) {
  std::map<std::string, BreakerState> out;
  for (auto& [origin, b] : breakers_) {
    refresh(origin, b, now);
    out[origin] = b.state;
  }
  return out;
}

}  // namespace recgw::fleet
