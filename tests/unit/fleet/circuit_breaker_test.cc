#include "fleet/circuit_breaker.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

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

// The board takes the time as an argument: these tests drive it with a fake clock.
struct BreakerBoardTest : ::testing::Test {
  static constexpr int kThreshold = 3;
  static constexpr std::chrono::milliseconds kCoolDown{1000};
  BreakerBoard board{BreakerSettings{kThreshold, kCoolDown}};
  BreakerBoard::Clock::time_point t0 = BreakerBoard::Clock::time_point{} + std::chrono::hours(1);
  std::vector<std::string> changes;  // "origin:old->new"

  BreakerBoardTest() {
    board.setOnChange([this](const std::string& origin, BreakerState from, BreakerState to) {
      changes.push_back(origin + ":" + breakerStateName(from) + "->" + breakerStateName(to));
    });
  }
  void fail(const std::string& origin, int times, BreakerBoard::Clock::time_point at) {
    for (int i = 0; i < times; ++i) board.recordFailure(origin, at);
  }
};

TEST_F(BreakerBoardTest, StaysClosedBelowTheThreshold) {
  fail("a", kThreshold - 1, t0);
  EXPECT_EQ(board.state("a", t0), BreakerState::kClosed);
  EXPECT_TRUE(board.allow("a", t0));
  EXPECT_TRUE(changes.empty());
}

TEST_F(BreakerBoardTest, ASuccessResetsTheCountOfConsecutiveFailures) {
  fail("a", kThreshold - 1, t0);
  board.recordSuccess("a");
  fail("a", kThreshold - 1, t0);
  EXPECT_EQ(board.state("a", t0), BreakerState::kClosed);
  board.recordFailure("a", t0);
  EXPECT_EQ(board.state("a", t0), BreakerState::kOpen);
}

TEST_F(BreakerBoardTest, OpensAtTheThresholdAndRejectsForTheCoolDown) {
  fail("a", kThreshold, t0);
  EXPECT_EQ(board.state("a", t0), BreakerState::kOpen);
  EXPECT_EQ(changes, (std::vector<std::string>{"a:closed->open"}));
  EXPECT_FALSE(board.allow("a", t0));
  EXPECT_FALSE(board.allow("a", t0 + kCoolDown - std::chrono::milliseconds(1)));
  EXPECT_EQ(board.state("a", t0 + kCoolDown - std::chrono::milliseconds(1)), BreakerState::kOpen);
}

TEST_F(BreakerBoardTest, HalfOpenAfterTheCoolDownAdmitsExactlyOneProbe) {
  fail("a", kThreshold, t0);
  auto later = t0 + kCoolDown;
  EXPECT_EQ(board.state("a", later), BreakerState::kHalfOpen);
  EXPECT_TRUE(board.allow("a", later));   // the probe
  EXPECT_FALSE(board.allow("a", later));  // everyone else waits for its answer
  EXPECT_FALSE(board.allow("a", later + kCoolDown - std::chrono::milliseconds(1)));
  EXPECT_EQ(changes, (std::vector<std::string>{"a:closed->open", "a:open->half_open"}));
}

TEST_F(BreakerBoardTest, AnAbandonedProbeIsReplacedAfterAnotherCoolDown) {
  fail("a", kThreshold, t0);
  auto probeAt = t0 + kCoolDown;
  ASSERT_TRUE(board.allow("a", probeAt));
  // The probe never reports back (its client left): a new one goes after a cool-down.
  EXPECT_TRUE(board.allow("a", probeAt + kCoolDown));
  EXPECT_FALSE(board.allow("a", probeAt + kCoolDown));
}

TEST_F(BreakerBoardTest, ProbeSuccessCloses) {
  fail("a", kThreshold, t0);
  auto later = t0 + kCoolDown;
  ASSERT_TRUE(board.allow("a", later));
  board.recordSuccess("a");
  EXPECT_EQ(board.state("a", later), BreakerState::kClosed);
  EXPECT_TRUE(board.allow("a", later));
  EXPECT_TRUE(board.allow("a", later));
  EXPECT_EQ(changes.back(), "a:half_open->closed");
  // Closed again with a fresh count: one failure does not re-open it.
  board.recordFailure("a", later);
  EXPECT_EQ(board.state("a", later), BreakerState::kClosed);
}

TEST_F(BreakerBoardTest, ProbeFailureReopensForAFullCoolDown) {
  fail("a", kThreshold, t0);
  auto probeAt = t0 + kCoolDown + std::chrono::milliseconds(500);
  ASSERT_TRUE(board.allow("a", probeAt));
  board.recordFailure("a", probeAt);  // one failure is enough in half-open
  EXPECT_EQ(board.state("a", probeAt), BreakerState::kOpen);
  EXPECT_EQ(changes.back(), "a:half_open->open");
  // The cool-down counts from the failed probe, not from the first opening.
  EXPECT_FALSE(board.allow("a", probeAt + kCoolDown - std::chrono::milliseconds(1)));
  EXPECT_TRUE(board.allow("a", probeAt + kCoolDown));
}

TEST_F(BreakerBoardTest, OriginsAreIndependent) {
  fail("a", kThreshold, t0);
  fail("b", kThreshold - 1, t0);
  EXPECT_FALSE(board.allow("a", t0));
  EXPECT_TRUE(board.allow("b", t0));
  EXPECT_EQ(board.state("never-seen", t0), BreakerState::kClosed);
  // b's half-open probe does not use up a's, and a's success does not close b.
  fail("b", 1, t0 + std::chrono::milliseconds(200));
  auto later = t0 + kCoolDown;
  ASSERT_TRUE(board.allow("a", later));
  EXPECT_FALSE(board.allow("b", later));  // b opened 200 ms after a: still cooling down
  board.recordSuccess("a");
  EXPECT_EQ(board.state("b", later), BreakerState::kOpen);
  EXPECT_EQ(board.snapshot(later),
            (std::map<std::string, BreakerState>{{"a", BreakerState::kClosed}, {"b", BreakerState::kOpen}}));
}

}  // namespace
}  // namespace recgw::fleet
