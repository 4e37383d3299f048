#include "handlers/failed_lookup_limiter.h"

#include <gtest/gtest.h>

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
