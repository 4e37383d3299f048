// withTimeouts: the pure URI rewriting in front of the MongoDB pool.
#include "storage/mongo_client.h"

#include <gtest/gtest.h>
#include <mongoc/mongoc.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace recgw::storage {
namespace {

using std::chrono::milliseconds;

struct SplitUri {
  std::string base;  // everything before '?'
  std::vector<std::pair<std::string, std::string>> options;
};

SplitUri split(const std::string& uri) {
  SplitUri out;
  size_t q = uri.find('?');
  out.base = uri.substr(0, q);
  if (q == std::string::npos) return out;
  std::string query = uri.substr(q + 1);
  size_t start = 0;
  while (start <= query.size()) {
    size_t amp = query.find('&', start);
    std::string item = query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    EXPECT_FALSE(item.empty()) << "empty query item in " << uri;
    size_t eq = item.find('=');
    out.options.emplace_back(item.substr(0, eq), eq == std::string::npos ? "" : item.substr(eq + 1));
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Option values by lower-case name; fails the test on a name given twice.
std::map<std::string, std::string> options(const std::string& uri) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : split(uri).options) {
    EXPECT_TRUE(out.emplace(lower(name), value).second) << "duplicate option " << name << " in " << uri;
  }
  return out;
}

// libmongoc itself must accept the result.
void expectMongocAccepts(const std::string& uri, int32_t serverSelection, int32_t maxPool) {
  bson_error_t error;
  mongoc_uri_t* parsed = mongoc_uri_new_with_error(uri.c_str(), &error);
  ASSERT_NE(parsed, nullptr) << uri << ": " << error.message;
  EXPECT_EQ(mongoc_uri_get_option_as_int32(parsed, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, -1), serverSelection)
      << uri;
  EXPECT_EQ(mongoc_uri_get_option_as_int32(parsed, MONGOC_URI_MAXPOOLSIZE, -1), maxPool) << uri;
  mongoc_uri_destroy(parsed);
}

TEST(MongoWithTimeoutsTest, AddsEveryOptionWhenAbsent) {
  std::string out = withTimeouts("mongodb://h:27017/db", milliseconds(1500), 12);
  EXPECT_EQ(split(out).base, "mongodb://h:27017/db");
  auto opts = options(out);
  EXPECT_EQ(opts["serverselectiontimeoutms"], "1500");
  EXPECT_EQ(opts["connecttimeoutms"], "1500");
  ASSERT_TRUE(opts.count("sockettimeoutms"));
  EXPECT_GE(std::stol(opts["sockettimeoutms"]), 1500);
  EXPECT_EQ(opts["waitqueuetimeoutms"], "1500");
  EXPECT_EQ(opts["maxpoolsize"], "12");
  EXPECT_EQ(opts.size(), 5u);
  expectMongocAccepts(out, 1500, 12);
}

TEST(MongoWithTimeoutsTest, UriWithoutDatabaseGetsASlashBeforeTheQuery) {
  std::string out = withTimeouts("mongodb://h:27017", milliseconds(2000), 4);
  EXPECT_EQ(split(out).base, "mongodb://h:27017/");
  EXPECT_EQ(options(out)["connecttimeoutms"], "2000");
  expectMongocAccepts(out, 2000, 4);
}

TEST(MongoWithTimeoutsTest, ExistingQueryIsExtended) {
  std::string out = withTimeouts("mongodb://u:p@h1:27017,h2:27018/db?replicaSet=rs0&authSource=admin",
                                 milliseconds(2000), 4);
  EXPECT_EQ(split(out).base, "mongodb://u:p@h1:27017,h2:27018/db");
  auto opts = options(out);
  EXPECT_EQ(opts["replicaset"], "rs0");
  EXPECT_EQ(opts["authsource"], "admin");
  EXPECT_EQ(opts["serverselectiontimeoutms"], "2000");
  EXPECT_EQ(opts["maxpoolsize"], "4");
  expectMongocAccepts(out, 2000, 4);
}

TEST(MongoWithTimeoutsTest, TrailingQuestionMarkOrAmpersand) {
  for (const char* uri : {"mongodb://h/db?", "mongodb://h/db?replicaSet=rs0&"}) {
    std::string out = withTimeouts(uri, milliseconds(2000), 4);
    EXPECT_EQ(out.find("?&"), std::string::npos) << out;
    EXPECT_EQ(out.find("&&"), std::string::npos) << out;
    EXPECT_EQ(options(out)["waitqueuetimeoutms"], "2000") << out;
  }
}

TEST(MongoWithTimeoutsTest, KeepsUserGivenOptionsCaseInsensitively) {
  std::string out = withTimeouts(
      "mongodb://h/db?CONNECTTIMEOUTMS=500&serverselectiontimeoutms=700&MaxPoolSize=3&socketTimeoutMS=9000",
      milliseconds(2000), 50);
  auto opts = options(out);  // also checks that nothing is given twice
  EXPECT_EQ(opts["connecttimeoutms"], "500");
  EXPECT_EQ(opts["serverselectiontimeoutms"], "700");
  EXPECT_EQ(opts["maxpoolsize"], "3");
  EXPECT_EQ(opts["sockettimeoutms"], "9000");
  EXPECT_EQ(opts["waitqueuetimeoutms"], "2000");  // the one not given is added
  expectMongocAccepts(out, 700, 3);
}

TEST(MongoWithTimeoutsTest, ASimilarOptionNameDoesNotCount) {
  // "xconnectTimeoutMS" is not connectTimeoutMS.
  std::string out = withTimeouts("mongodb://h/db?appname=a&xconnectTimeoutMS=1", milliseconds(2000), 4);
  EXPECT_EQ(options(out)["connecttimeoutms"], "2000");
}

TEST(MongoWithTimeoutsTest, AlreadyCompleteUriIsUnchanged) {
  std::string uri =
      "mongodb://h/db?serverSelectionTimeoutMS=1&connectTimeoutMS=2&socketTimeoutMS=3&waitQueueTimeoutMS=4"
      "&maxPoolSize=5";
  EXPECT_EQ(withTimeouts(uri, milliseconds(2000), 4), uri);
}

}  // namespace
}  // namespace recgw::storage
