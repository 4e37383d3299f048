#include "fleet/circuit_breaker.h"

#include <gtest/gtest.h>

#include <string>

namespace recgw::fleet {
namespace {

// Regression (audit item 3): origins were named "<label> <base URL>" with the URL as
// configured, so a fleet password reached /readyz, the recgw_breaker_* labels and the log.
TEST(CircuitBreakerTest, OriginNamesCarryNoCredentials) {
  EXPECT_EQ(breakerOriginName("fleet:0", "http://user:pass@127.0.0.1:8000"),
            "fleet:0 http://***@127.0.0.1:8000");
  EXPECT_EQ(breakerOriginName("storage", "https://minio.example.com:9000"),
            "storage https://minio.example.com:9000");
}

TEST(CircuitBreakerTest, OpensAfterThresholdAndReportsTheNamedOrigin) {
  BreakerBoard board({2, std::chrono::milliseconds(1000)});
  std::string changed;
  board.setOnChange([&](const std::string& origin, BreakerState, BreakerState to) {
    if (to == BreakerState::kOpen) changed = origin;
  });
  const std::string origin = breakerOriginName("fleet:1", "http://u:secretpw@h:1");
  auto now = BreakerBoard::Clock::now();
  EXPECT_TRUE(board.allow(origin, now));
  board.recordFailure(origin, now);
  board.recordFailure(origin, now);
  EXPECT_FALSE(board.allow(origin, now));
  EXPECT_EQ(changed, "fleet:1 http://***@h:1");
  for (const auto& [name, state] : board.snapshot(now)) EXPECT_EQ(name.find("secretpw"), std::string::npos);
}

}  // namespace
}  // namespace recgw::fleet
