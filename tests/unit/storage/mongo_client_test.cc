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

namespace recgw::storage {
namespace {

// The URI forms deployments use survive withTimeouts and parse as libmongoc reads them.
mongoc_uri_t* parseWithTimeouts(const std::string& uri) {
  std::string full = withTimeouts(uri, milliseconds(2000), 8);
  bson_error_t error;
  mongoc_uri_t* parsed = mongoc_uri_new_with_error(full.c_str(), &error);
  EXPECT_NE(parsed, nullptr) << full << ": " << error.message;
  return parsed;
}

TEST(MongoUriFormsTest, UserPasswordWithAuthSource) {
  mongoc_uri_t* u = parseWithTimeouts("mongodb://recgw:p%40ss@db1.internal:27017/cxb?authSource=admin");
  ASSERT_NE(u, nullptr);
  EXPECT_STREQ(mongoc_uri_get_username(u), "recgw");
  EXPECT_STREQ(mongoc_uri_get_password(u), "p@ss");
  EXPECT_STREQ(mongoc_uri_get_auth_source(u), "admin");
  EXPECT_STREQ(mongoc_uri_get_database(u), "cxb");
  mongoc_uri_destroy(u);
}

TEST(MongoUriFormsTest, TlsWithCaFile) {
  mongoc_uri_t* u =
      parseWithTimeouts("mongodb://db1.internal:27017/cxb?tls=true&tlsCAFile=/etc/recgw/mongo-ca.pem");
  ASSERT_NE(u, nullptr);
  EXPECT_TRUE(mongoc_uri_get_tls(u));
  EXPECT_STREQ(mongoc_uri_get_option_as_utf8(u, MONGOC_URI_TLSCAFILE, ""), "/etc/recgw/mongo-ca.pem");
  mongoc_uri_destroy(u);
}

TEST(MongoUriFormsTest, ReplicaSetWithSeveralHosts) {
  mongoc_uri_t* u =
      parseWithTimeouts("mongodb://u:pw@db1:27017,db2:27017,db3:27017/cxb?replicaSet=rs0&authSource=admin");
  ASSERT_NE(u, nullptr);
  EXPECT_STREQ(mongoc_uri_get_replica_set(u), "rs0");
  int hosts = 0;
  for (const mongoc_host_list_t* h = mongoc_uri_get_hosts(u); h; h = h->next) ++hosts;
  EXPECT_EQ(hosts, 3);
  mongoc_uri_destroy(u);
}

TEST(MongoUriFormsTest, SrvIsParsedWithoutAHostListOrPort) {
  // Resolving the SRV record needs DNS; the parser alone must accept the form and keep the
  // options we add (libmongoc turns on TLS for +srv by default).
  mongoc_uri_t* u = parseWithTimeouts("mongodb+srv://recgw:pw@cluster0.example.net/cxb?authSource=admin");
  ASSERT_NE(u, nullptr);
  EXPECT_STREQ(mongoc_uri_get_srv_hostname(u), "cluster0.example.net");
  EXPECT_TRUE(mongoc_uri_get_tls(u));
  EXPECT_EQ(mongoc_uri_get_option_as_int32(u, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, -1), 2000);
  mongoc_uri_destroy(u);
  bson_error_t error;
  // A port is not allowed with +srv: libmongoc refuses it, as it should.
  std::string withPort = withTimeouts("mongodb+srv://cluster0.example.net:27017/cxb", milliseconds(2000), 8);
  mongoc_uri_t* bad = mongoc_uri_new_with_error(withPort.c_str(), &error);
  EXPECT_EQ(bad, nullptr);
  if (bad) mongoc_uri_destroy(bad);
}

TEST(ExplainMongoErrorTest, AuthenticationFailureNamesUserPasswordAndAuthSource) {
  std::string s =
      explainMongoError(MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_AUTHENTICATE, "Authentication failed.");
  EXPECT_NE(s.find("authentication failed"), std::string::npos) << s;
  EXPECT_NE(s.find("authSource"), std::string::npos) << s;
  std::string server = explainMongoError(MONGOC_ERROR_SERVER, 18, "auth refused");
  EXPECT_NE(server.find("refused the credentials"), std::string::npos) << server;
}

TEST(ExplainMongoErrorTest, UnverifiedCertificateNamesTlsCAFile) {
  std::string s = explainMongoError(
      MONGOC_ERROR_SERVER_SELECTION, MONGOC_ERROR_SERVER_SELECTION_FAILURE,
      "No suitable servers found (`serverSelectionTryOnce` set): [TLS handshake failed: certificate verify "
      "failed (unable to get local issuer certificate) calling hello on '127.0.0.1:27017']");
  EXPECT_NE(s.find("could not be verified"), std::string::npos) << s;
  EXPECT_NE(s.find("tlsCAFile"), std::string::npos) << s;
}

TEST(ExplainMongoErrorTest, OtherErrorsPassUnchanged) {
  std::string m = "No suitable servers found: [connection refused calling hello on '127.0.0.1:1']";
  EXPECT_EQ(explainMongoError(MONGOC_ERROR_SERVER_SELECTION, MONGOC_ERROR_SERVER_SELECTION_FAILURE, m), m);
  // A handshake that fails for another reason than the certificate is not blamed on it.
  std::string plain = "No suitable servers found: [TLS handshake failed: Connection reset by peer calling hello]";
  EXPECT_EQ(explainMongoError(MONGOC_ERROR_SERVER_SELECTION, MONGOC_ERROR_SERVER_SELECTION_FAILURE, plain),
            plain);
}

}  // namespace
}  // namespace recgw::storage
