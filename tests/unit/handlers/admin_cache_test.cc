// parseWarmRequest: the pure body parsing of POST /api/v1/admin/cache/warm.
#include "handlers/admin_cache.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace recgw::handlers {
namespace {

using Strings = std::vector<std::string>;

TEST(ParseWarmRequestTest, Tokens) {
  WarmRequest req = parseWarmRequest(R"({"tokens": ["t1", "t2", "t3"]})", 10);
  EXPECT_EQ(req.error, "");
  EXPECT_EQ(req.field, storage::LookupField::kToken);
  EXPECT_EQ(req.values, (Strings{"t1", "t2", "t3"}));
  EXPECT_FALSE(req.since.has_value());
}

TEST(ParseWarmRequestTest, SessionIds) {
  WarmRequest req = parseWarmRequest(R"({"session_ids": ["s1", "s2"]})", 10);
  EXPECT_EQ(req.error, "");
  EXPECT_EQ(req.field, storage::LookupField::kSessionId);
  EXPECT_EQ(req.values, (Strings{"s1", "s2"}));
}

TEST(ParseWarmRequestTest, SinceUntilWindow) {
  WarmRequest req =
      parseWarmRequest(R"({"since": "2024-05-01T00:00:00Z", "until": "2024-05-01T01:00:00Z"})", 100);
  EXPECT_EQ(req.error, "");
  ASSERT_TRUE(req.until.has_value());
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*req.until), 1714521600 + 3600);
  EXPECT_FALSE(parseWarmRequest(R"({"since": "2024-05-01", "until": "soon"})", 100).error.empty());
  EXPECT_FALSE(parseWarmRequest(R"({"since": "2024-05-01", "until": 5})", 100).error.empty());
  EXPECT_FALSE(parseWarmRequest(R"({"since": "2024-05-01"})", 100).until.has_value());
}

TEST(ParseWarmRequestTest, SinceAndLimit) {
  WarmRequest req = parseWarmRequest(R"({"since": "2024-05-01T00:00:00Z", "limit": 50})", 100);
  EXPECT_EQ(req.error, "");
  ASSERT_TRUE(req.since.has_value());
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*req.since), 1714521600);
  EXPECT_EQ(req.limit, 50u);
  EXPECT_TRUE(req.values.empty());

  WarmRequest noLimit = parseWarmRequest(R"({"since": "2024-05-01"})", 100000);
  EXPECT_EQ(noLimit.error, "");
  EXPECT_TRUE(noLimit.since.has_value());
  EXPECT_GT(noLimit.limit, 0u);

  WarmRequest atMax = parseWarmRequest(R"({"since": "2024-05-01", "limit": 100})", 100);
  EXPECT_EQ(atMax.error, "");
  EXPECT_EQ(atMax.limit, 100u);
}

TEST(ParseWarmRequestTest, ItemsUpToTheMaximum) {
  WarmRequest req = parseWarmRequest(R"({"tokens": ["a", "b", "c"]})", 3);
  EXPECT_EQ(req.error, "");
  EXPECT_EQ(req.values.size(), 3u);
}

TEST(ParseWarmRequestTest, Errors) {
  const std::string long257(257, 'x');
  struct Case {
    std::string body;
    size_t max;
  };
  const Case cases[] = {
      {"", 10},
      {"not json", 10},
      {"[]", 10},
      {R"(["tokens"])", 10},
      {"42", 10},
      {"{}", 10},                                          // no form
      {R"({"tokens": ["a"], "session_ids": ["b"]})", 10},  // two forms
      {R"({"tokens": ["a"], "since": "2024-05-01"})", 10},
      {R"({"tokens": "a"})", 10},   // not a list
      {R"({"tokens": [""]})", 10},  // empty string
      {R"({"session_ids": ["ok", ""]})", 10},
      {R"({"tokens": [1]})", 10},                      // not a string
      {R"({"tokens": [")" + long257 + R"("]})", 10},   // too long
      {R"({"since": "2024-05-01", "limit": 0})", 10},  // limit 0
      {R"({"since": "2024-05-01", "limit": -1})", 10},
      {R"({"since": "2024-05-01", "limit": 11})", 10},  // limit too big
      {R"({"since": "2024-05-01", "limit": "5"})", 10},
      {R"({"since": "2024-05-01", "limit": 1.5})", 10},
      {R"({"since": "yesterday"})", 10},  // bad date
      {R"({"since": "2024-13-01"})", 10},
      {R"({"since": 1714521600})", 10},
      {R"({"tokens": ["a", "b", "c", "d"]})", 3},  // item count over max
      {R"({"session_ids": ["a", "b"]})", 1},
  };
  for (const Case& c : cases) {
    WarmRequest req = parseWarmRequest(c.body, c.max);
    EXPECT_NE(req.error, "") << c.body;
  }
}

TEST(ParseWarmRequestTest, ErrorMessagesSayWhatIsWrong) {
  EXPECT_NE(parseWarmRequest(R"({"since": "2024-05-01", "limit": 0})", 10).error.find("limit"),
            std::string::npos);
  EXPECT_NE(parseWarmRequest(R"({"since": "nope"})", 10).error.find("since"), std::string::npos);
  EXPECT_NE(parseWarmRequest(R"({"tokens": ["a","b"]})", 1).error.find("1"), std::string::npos);
  EXPECT_NE(parseWarmRequest(R"({"tokens": [""]})", 10).error.find("tokens"), std::string::npos);
}

}  // namespace
}  // namespace recgw::handlers
