#include "handlers/failed_lookup_limiter.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

namespace recgw::handlers {
namespace {

using Clock = FailedLookupLimiter::Clock;
using std::chrono::seconds;

TEST(FailedLookupLimiterTest, UnknownAddressMayLookUp) {
  FailedLookupLimiter limiter(60, 5);
  EXPECT_EQ(limiter.retryAfter("10.0.0.1", Clock::now()), 0);
}

TEST(FailedLookupLimiterTest, BurstThenTooMany) {
  FailedLookupLimiter limiter(60, 5);  // one token per second, five at once
  const auto t0 = Clock::now();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(limiter.retryAfter("10.0.0.1", t0), 0) << "failure " << i;
    limiter.recordFailure("10.0.0.1", t0);
  }
  int wait = limiter.retryAfter("10.0.0.1", t0);
  EXPECT_GT(wait, 0);
  EXPECT_LE(wait, 1);  // one token per second
}

TEST(FailedLookupLimiterTest, RefillsOverTime) {
  FailedLookupLimiter limiter(6, 2);  // one token per ten seconds
  const auto t0 = Clock::now();
  limiter.recordFailure("a", t0);
  limiter.recordFailure("a", t0);
  EXPECT_EQ(limiter.retryAfter("a", t0), 10);
  EXPECT_GT(limiter.retryAfter("a", t0 + seconds(5)), 0);
  EXPECT_LE(limiter.retryAfter("a", t0 + seconds(5)), 5);
  EXPECT_EQ(limiter.retryAfter("a", t0 + seconds(10)), 0);
  // Spending the refilled token blocks again.
  limiter.recordFailure("a", t0 + seconds(10));
  EXPECT_GT(limiter.retryAfter("a", t0 + seconds(10)), 0);
  // A long quiet period refills only up to the burst.
  const auto later = t0 + seconds(3600);
  EXPECT_EQ(limiter.retryAfter("a", later), 0);
  limiter.recordFailure("a", later);
  EXPECT_EQ(limiter.retryAfter("a", later), 0);
  limiter.recordFailure("a", later);
  EXPECT_GT(limiter.retryAfter("a", later), 0);
}

TEST(FailedLookupLimiterTest, AddressesAreIndependent) {
  FailedLookupLimiter limiter(60, 2);
  const auto t0 = Clock::now();
  limiter.recordFailure("10.0.0.1", t0);
  limiter.recordFailure("10.0.0.1", t0);
  EXPECT_GT(limiter.retryAfter("10.0.0.1", t0), 0);
  EXPECT_EQ(limiter.retryAfter("10.0.0.2", t0), 0);
  limiter.recordFailure("10.0.0.2", t0);
  EXPECT_EQ(limiter.retryAfter("10.0.0.2", t0), 0);
  EXPECT_EQ(limiter.tracked(), 2u);
}

TEST(FailedLookupLimiterTest, ConfigureChangesTheRate) {
  FailedLookupLimiter limiter(60, 1);
  const auto t0 = Clock::now();
  limiter.recordFailure("a", t0);
  EXPECT_EQ(limiter.retryAfter("a", t0), 1);
  limiter.configure(6, 1);
  EXPECT_EQ(limiter.retryAfter("a", t0), 10);
}

TEST(FailedLookupLimiterTest, TrackedAddressesAreBounded) {
  FailedLookupLimiter limiter(60, 3, 4);
  const auto t0 = Clock::now();
  for (int i = 0; i < 50; ++i) limiter.recordFailure("10.0.0." + std::to_string(i), t0);
  EXPECT_LE(limiter.tracked(), 4u);
}

TEST(FailedLookupLimiterTest, TryChargeSpendsTheBurstThenRefuses) {
  FailedLookupLimiter limiter(60, 3);
  const auto t0 = Clock::now();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.tryCharge("a", t0), 0) << "charge " << i;
  EXPECT_EQ(limiter.tryCharge("a", t0), 1);
  // A refusal charges nothing: one second later exactly one more is allowed.
  EXPECT_EQ(limiter.tryCharge("a", t0 + seconds(1)), 0);
  EXPECT_GT(limiter.tryCharge("a", t0 + seconds(1)), 0);
}

TEST(FailedLookupLimiterTest, RefundGivesTheUnitBack) {
  FailedLookupLimiter limiter(60, 2);
  const auto t0 = Clock::now();
  ASSERT_EQ(limiter.tryCharge("a", t0), 0);
  ASSERT_EQ(limiter.tryCharge("a", t0), 0);
  EXPECT_GT(limiter.retryAfter("a", t0), 0);
  limiter.refund("a", t0);  // that lookup found its call
  EXPECT_EQ(limiter.tryCharge("a", t0), 0);
  // Refunds never raise a bucket above the burst.
  for (int i = 0; i < 10; ++i) limiter.refund("b", t0);
  limiter.recordFailure("b", t0);
  for (int i = 0; i < 10; ++i) limiter.refund("b", t0);
  EXPECT_EQ(limiter.tryCharge("b", t0), 0);
  EXPECT_EQ(limiter.tryCharge("b", t0), 0);
  EXPECT_GT(limiter.tryCharge("b", t0), 0);
}

TEST(FailedLookupLimiterTest, ZeroPerMinuteIsNoLimit) {
  FailedLookupLimiter limiter(0, 1);
  const auto t0 = Clock::now();
  for (int i = 0; i < 100; ++i) EXPECT_EQ(limiter.tryCharge("a", t0), 0);
  EXPECT_EQ(limiter.retryAfter("a", t0), 0);
}

TEST(FailedLookupLimiterTest, ALimitedAddressKeepsItsBucketWhileOthersChurn) {
  // A tiny table: addresses that failed once each evict one another (their buckets are the
  // fullest), not the address that is being limited.
  FailedLookupLimiter limiter(60, 5, 8);
  const auto t0 = Clock::now();
  for (int i = 0; i < 5; ++i) limiter.recordFailure("scanner", t0);
  ASSERT_GT(limiter.retryAfter("scanner", t0), 0);
  for (int i = 0; i < 500; ++i) limiter.recordFailure("10.1.0." + std::to_string(i), t0);
  EXPECT_GT(limiter.retryAfter("scanner", t0), 0);
  EXPECT_LE(limiter.tracked(), 8u);
}

// Audit item 8: the workers of one gateway are processes. With a table mapped shared before
// fork, what one process spends is spent for all: the burst is per gateway, not per worker.
TEST(FailedLookupLimiterTest, SharedTableIsOneBudgetAcrossProcesses) {
  auto table = FailedLookupTable::createShared(1024);
  FailedLookupLimiter parent(table, 60, 20);
  const auto t0 = Clock::now();
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Another worker spends the address's whole burst (with its own limiter object).
    FailedLookupLimiter worker(table, 60, 20);
    int allowed = 0;
    for (int i = 0; i < 40; ++i) allowed += worker.tryCharge("203.0.113.7", t0) == 0;
    ::_exit(allowed == 20 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child was allowed more than the burst";
  // This process sees the bucket the child emptied.
  EXPECT_GT(parent.tryCharge("203.0.113.7", t0), 0);
  EXPECT_EQ(parent.tryCharge("203.0.113.8", t0), 0);
}

TEST(FailedLookupLimiterTest, PrivateTableIsNotSharedWithAChild) {
  auto table = FailedLookupTable::createPrivate(1024);
  FailedLookupLimiter parent(table, 60, 2);
  const auto t0 = Clock::now();
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    for (int i = 0; i < 5; ++i) parent.tryCharge("a", t0);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_EQ(parent.tryCharge("a", t0), 0);
}

TEST(FailedLookupLimiterTest, ConcurrentProcessesNeverSpendMoreThanTheBurst) {
  auto table = FailedLookupTable::createShared(1024);
  const auto t0 = Clock::now();
  constexpr int kWorkers = 4, kTries = 2000, kBurst = 500;
  std::vector<pid_t> children;
  int pipeFds[2];
  ASSERT_EQ(::pipe(pipeFds), 0);
  for (int w = 0; w < kWorkers; ++w) {
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      FailedLookupLimiter worker(table, 1e-9, kBurst);  // no refill during the test
      int32_t allowed = 0;
      for (int i = 0; i < kTries; ++i) allowed += worker.tryCharge("a", t0) == 0;
      // A call that gave up on the lock (a holder descheduled on a loaded machine) was
      // allowed without a charge: only charged units count against the burst.
      int32_t charged = allowed - static_cast<int32_t>(worker.lockTimeouts());
      bool ok = ::write(pipeFds[1], &charged, sizeof charged) == sizeof charged;
      ::_exit(ok ? 0 : 1);
    }
    children.push_back(child);
  }
  ::close(pipeFds[1]);
  int32_t total = 0;
  for (int w = 0; w < kWorkers; ++w) {
    int32_t charged = 0;
    ASSERT_EQ(::read(pipeFds[0], &charged, sizeof charged), static_cast<ssize_t>(sizeof charged));
    total += charged;
  }
  ::close(pipeFds[0]);
  for (pid_t c : children) ::waitpid(c, nullptr, 0);
  EXPECT_EQ(total, kBurst);
}

TEST(FailedLookupLimiterTest, ALockLeftByADeadProcessIsTakenOver) {
  auto table = FailedLookupTable::createShared(8);  // one set: every address shares its lock
  FailedLookupLimiter limiter(table, 60, 1);
  const auto t0 = Clock::now();
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    FailedLookupTableTestPeer::holdEveryLock(*table);  // then dies holding them
    ::_exit(0);
  }
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  // Without the take-over every call would fail open (allowed, uncharged) forever.
  EXPECT_EQ(limiter.tryCharge("a", t0), 0);
  EXPECT_GT(limiter.tryCharge("a", t0), 0);
}

TEST(FailedLookupLimiterTest, ALockHeldByALiveProcessFailsOpenWithoutBlocking) {
  auto table = FailedLookupTable::createShared(8);
  FailedLookupLimiter limiter(table, 60, 1);
  const auto t0 = Clock::now();
  FailedLookupTableTestPeer::holdEveryLock(*table);  // held by this (live) process
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(limiter.tryCharge("a", t0), 0);
  EXPECT_EQ(limiter.tryCharge("a", t0), 0);  // nothing was charged
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(500));
  EXPECT_EQ(limiter.lockTimeouts(), 2u);
  FailedLookupTableTestPeer::releaseEveryLock(*table);
  EXPECT_EQ(limiter.tryCharge("a", t0), 0);
  EXPECT_GT(limiter.tryCharge("a", t0), 0);
}

TEST(ClientAddressTest, UntrustedPeerIsTheClient) {
  const std::vector<std::string> trusted{"10.0.0.1"};
  EXPECT_EQ(clientAddress("203.0.113.9", "198.51.100.1", trusted), "203.0.113.9");
  EXPECT_EQ(clientAddress("203.0.113.9", nullptr, trusted), "203.0.113.9");
  EXPECT_EQ(clientAddress("203.0.113.9", "198.51.100.1", {}), "203.0.113.9");
}

TEST(ClientAddressTest, TrustedPeerUsesTheRightMostUntrustedHop) {
  const std::vector<std::string> trusted{"10.0.0.1", "10.0.0.2"};
  EXPECT_EQ(clientAddress("10.0.0.1", "198.51.100.1", trusted), "198.51.100.1");
  // A client can forge the left part; the right-most hop that no trusted proxy added wins.
  EXPECT_EQ(clientAddress("10.0.0.1", "1.2.3.4, 198.51.100.1, 10.0.0.2", trusted), "198.51.100.1");
  EXPECT_EQ(clientAddress("10.0.0.1", " 1.2.3.4 ,\t198.51.100.7\t", trusted), "198.51.100.7");
}

TEST(ClientAddressTest, TrustedPeerWithoutAUsefulHeaderIsTheClient) {
  const std::vector<std::string> trusted{"10.0.0.1", "10.0.0.2"};
  EXPECT_EQ(clientAddress("10.0.0.1", nullptr, trusted), "10.0.0.1");
  EXPECT_EQ(clientAddress("10.0.0.1", "", trusted), "10.0.0.1");
  EXPECT_EQ(clientAddress("10.0.0.1", " , ", trusted), "10.0.0.1");
  EXPECT_EQ(clientAddress("10.0.0.1", "10.0.0.2", trusted), "10.0.0.1");
}

}  // namespace
}  // namespace recgw::handlers
