// Per-link analytics: reading the stored counters back, the JSON and the table.
#include "storage/link_analytics.h"

#include <gtest/gtest.h>

namespace recgw::storage {
namespace {

RedisReply hashReply(std::vector<std::pair<std::string, std::string>> fields) {
  RedisReply r;
  r.kind = RedisReply::Kind::kArray;
  for (auto& [k, v] : fields) {
    RedisReply key, value;
    key.kind = value.kind = RedisReply::Kind::kString;
    key.text = k;
    value.text = v;
    r.elements.push_back(key);
    r.elements.push_back(value);
  }
  return r;
}

RedisReply integer(int64_t n) {
  RedisReply r;
  r.kind = RedisReply::Kind::kInteger;
  r.integer = n;
  return r;
}

TEST(LinkStatsTest, DecodesCountersAndFraction) {
  LinkStats s = decodeLinkStats("ab",
                                hashReply({{"opens", "3"},
                                           {"bytes", "5000"},
                                           {"furthest", "870"},
                                           {"size", "1000"},
                                           {"first", "1767225600000"},
                                           {"last", "1767225601000"},
                                           {"session_id", "sess-1"}}),
                                integer(2));
  EXPECT_EQ(s.opens, 3);
  EXPECT_EQ(s.uniqueClients, 2);
  EXPECT_EQ(s.bytes, 5000);
  EXPECT_EQ(s.sessionId, "sess-1");
  ASSERT_TRUE(s.playedFraction().has_value());
  EXPECT_DOUBLE_EQ(*s.playedFraction(), 0.87);
  std::string json = renderLinkStatsJson("sess-1", {s});
  EXPECT_NE(json.find("\"played_fraction\":0.87"), std::string::npos) << json;
  EXPECT_NE(json.find("\"first_access\":\"2026-01-01T00:00:00.000Z\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"suspected_leak\":{\"warnings\":0}"), std::string::npos) << json;
  std::string table = renderLinkStatsTable("sess-1", {s});
  EXPECT_NE(table.find("87 %"), std::string::npos) << table;
}

TEST(LinkStatsTest, MissingOrGarbledFieldsAreZeroAndUnknownSizeHasNoFraction) {
  LinkStats s = decodeLinkStats("ab", hashReply({{"opens", "x"}, {"furthest", "10"}}), RedisReply{});
  EXPECT_EQ(s.opens, 0);
  EXPECT_EQ(s.uniqueClients, 0);
  EXPECT_FALSE(s.playedFraction().has_value());
  std::string json = renderLinkStatsJson("s", {s});
  EXPECT_NE(json.find("\"played_fraction\":null"), std::string::npos) << json;
  EXPECT_NE(json.find("\"first_access\":null"), std::string::npos) << json;
  EXPECT_EQ(renderLinkStatsJson("s", {}), R"({"session_id":"s","links":[]})");
}

TEST(LinkStatsTest, LeakIsShown) {
  LinkStats s = decodeLinkStats(
      "ab", hashReply({{"leak_warnings", "1"}, {"leak_clients", "51"}, {"leak_at", "1767225600000"}}),
      integer(51));
  std::string json = renderLinkStatsJson("s", {s});
  EXPECT_NE(
      json.find(R"("suspected_leak":{"warnings":1,"clients_in_hour":51,"at":"2026-01-01T00:00:00.000Z"})"),
      std::string::npos)
      << json;
  EXPECT_NE(renderLinkStatsTable("s", {s}).find("SUSPECTED (51 clients/h)"), std::string::npos);
}

}  // namespace
}  // namespace recgw::storage
