#pragma once
// Per-origin circuit breakers (storage and each fleet host). After `failureThreshold`
// consecutive failures (transport errors, timeouts, 5xx — not 404/401/403, which are
// answers) an origin is skipped for `coolDown`; then one request is let through as a
// probe (half-open): success closes the breaker, failure opens it again.
// One board per worker, loop thread only.
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace recgw::fleet {

enum class BreakerState { kClosed = 0, kOpen = 1, kHalfOpen = 2 };
const char* breakerStateName(BreakerState state);

// The name an origin has on the board, and so in /readyz, the recgw_breaker_* metric
// labels and the "circuit breaker" log line: its source label and its URL in display form
// ("fleet:0 http://***@10.0.0.5:8000"), never the credentials a configured URL may hold.
std::string breakerOriginName(std::string_view label, std::string_view url);

struct BreakerSettings {
  int failureThreshold = 5;
  std::chrono::milliseconds coolDown{10000};
};

class BreakerBoard {
 public:
  using Clock = std::chrono::steady_clock;
  explicit BreakerBoard(BreakerSettings settings = {}) : settings_(settings) {}

  // `origin` names the origin and its address, as breakerOriginName() spells it.
  bool allow(const std::string& origin, Clock::time_point now = Clock::now());
  void recordSuccess(const std::string& origin);
  void recordFailure(const std::string& origin, Clock::time_point now = Clock::now());
  BreakerState state(const std::string& origin, Clock::time_point now = Clock::now());

  // Called on every state change: (origin, old, new).
  void setOnChange(std::function<void(const std::string&, BreakerState, BreakerState)> cb) {
    onChange_ = std::move(cb);
  }
  // Every origin seen, with its state now.
  std::map<std::string, BreakerState> snapshot(Clock::time_point now = Clock::now());
  void setSettings(BreakerSettings settings) { settings_ = settings; }

 private:
  struct Breaker {
    BreakerState state = BreakerState::kClosed;
    int consecutiveFailures = 0;
    Clock::time_point openedAt{};
    bool probeInFlight = false;
    Clock::time_point probeStartedAt{};
  };
  void transition(const std::string& origin, Breaker& b, BreakerState next);
  void refresh(const std::string& origin, Breaker& b, Clock::time_point now);

  BreakerSettings settings_;
  std::map<std::string, Breaker> breakers_;
  std::function<void(const std::string&, BreakerState, BreakerState)> onChange_;
};

}  // namespace recgw::fleet
