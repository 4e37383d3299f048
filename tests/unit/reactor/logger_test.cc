// The log timestamp: ISO 8601 UTC with milliseconds, its second part cached per thread.
#include "reactor/logger.h"

#include <gtest/gtest.h>
#include <sys/time.h>

#include <ctime>
#include <regex>
#include <string>

namespace recgw::reactor {
namespace {

TEST(LoggerTest, TimestampIsIsoUtcWithMillisecondsAndCurrent) {
  const std::regex shape(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  for (int i = 0; i < 2000; ++i) {
    timeval before{};
    gettimeofday(&before, nullptr);
    std::string ts = isoTimestampNow();
    timeval after{};
    gettimeofday(&after, nullptr);
    ASSERT_TRUE(std::regex_match(ts, shape)) << ts;
    // The seconds part is one of the two clock readings around the call (never a stale cache).
    auto secondsText = [](time_t t) {
      tm utc{};
      gmtime_r(&t, &utc);
      char buf[32];
      std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
      return std::string(buf);
    };
    std::string secs = ts.substr(0, 19);
    ASSERT_TRUE(secs == secondsText(before.tv_sec) || secs == secondsText(after.tv_sec)) << ts;
  }
}

}  // namespace
}  // namespace recgw::reactor
