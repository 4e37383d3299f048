// parseRedisUrl: the pure URL parsing of the Redis client.
#include "storage/redis_client.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace recgw::storage {
namespace {

RedisAddress parseOk(const std::string& url) {
  RedisAddress a;
  std::string error = parseRedisUrl(url, a);
  EXPECT_EQ(error, "") << url;
  return a;
}

void expectRejected(const std::string& url) {
  RedisAddress a;
  EXPECT_NE(parseRedisUrl(url, a), "") << url << " accepted as host=" << a.host << " port=" << a.port;
}

TEST(RedisUrlTest, HostPortAndDatabase) {
  RedisAddress a = parseOk("redis://127.0.0.1:6380/2");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 6380);
  EXPECT_EQ(a.database, 2);
  EXPECT_TRUE(a.password.empty());
  EXPECT_TRUE(a.unixPath.empty());
}

TEST(RedisUrlTest, Defaults) {
  RedisAddress a = parseOk("redis://10.1.2.3");
  EXPECT_EQ(a.host, "10.1.2.3");
  EXPECT_EQ(a.port, 6379);
  EXPECT_EQ(a.database, 0);
  a = parseOk("redis://10.1.2.3/");
  EXPECT_EQ(a.database, 0);
}

TEST(RedisUrlTest, LocalhostBecomesLoopbackIp) {
  RedisAddress a = parseOk("redis://localhost:6379");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 6379);
  EXPECT_EQ(parseOk("redis://localhost").host, "127.0.0.1");
}

TEST(RedisUrlTest, Password) {
  RedisAddress a = parseOk("redis://:s3cret@127.0.0.1:6379/1");
  EXPECT_EQ(a.password, "s3cret");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.database, 1);
  EXPECT_EQ(parseOk("redis://user:pw@127.0.0.1").password, "pw");
}

TEST(RedisUrlTest, Ipv6InBrackets) {
  RedisAddress a = parseOk("redis://[::1]:6380");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 6380);
}

TEST(RedisUrlTest, UnixSocket) {
  RedisAddress a = parseOk("unix:///tmp/r.sock");
  EXPECT_EQ(a.unixPath, "/tmp/r.sock");
  expectRejected("unix://");
}

TEST(RedisUrlTest, EachParseStartsFresh) {
  RedisAddress a;
  ASSERT_EQ(parseRedisUrl("redis://:pw@127.0.0.1:7000/3", a), "");
  ASSERT_EQ(parseRedisUrl("unix:///tmp/r.sock", a), "");
  EXPECT_TRUE(a.password.empty());
  EXPECT_EQ(a.database, 0);
  ASSERT_EQ(parseRedisUrl("redis://127.0.0.1", a), "");
  EXPECT_TRUE(a.unixPath.empty());
  EXPECT_EQ(a.port, 6379);
}

TEST(RedisUrlTest, HostnamesAreRejected) {
  // hiredis would resolve them with a blocking call on the loop.
  expectRejected("redis://redis.example:6379");
  expectRejected("redis://redis.example");
  expectRejected("redis://cache");
}

TEST(RedisUrlTest, BadInput) {
  expectRejected("redis://127.0.0.1:abc");
  expectRejected("redis://127.0.0.1:/0");
  expectRejected("redis://127.0.0.1/notanumber");
  expectRejected("redis://");
  expectRejected("http://127.0.0.1:6379");
  expectRejected("foo");
  expectRejected("");
}

// Regression: the port was read with std::stoi and never range-checked, so trailing junk
// and out-of-range ports were accepted.
TEST(RedisUrlTest, PortMustBeAValidPortNumber) {
  expectRejected("redis://127.0.0.1:99999");
  expectRejected("redis://127.0.0.1:-1");
  expectRejected("redis://127.0.0.1:0");
  expectRejected("redis://127.0.0.1:6379abc");
  expectRejected("redis://127.0.0.1:6379/2x");
}

// Regression: "looks like an IP" only checked the characters [0-9a-fA-F.:[]], so hostnames
// spelled with hex letters passed and hiredis then resolved them with a blocking
// getaddrinfo on the loop.
TEST(RedisUrlTest, HexLetterHostnamesAreRejected) {
  expectRejected("redis://db:6379");
  expectRejected("redis://cafe.bad:6379");
  expectRejected("redis://1.2.3.4.5");
}

TEST(RedisUrlTest, AclUserAndPassword) {
  RedisAddress a = parseOk("redis://cache-user:pw@127.0.0.1:6379/3");
  EXPECT_EQ(a.username, "cache-user");
  EXPECT_EQ(a.password, "pw");
  EXPECT_EQ(a.database, 3);
  EXPECT_TRUE(parseOk("redis://:pw@127.0.0.1").username.empty());
}

TEST(RedisUrlTest, UserinfoIsPercentDecoded) {
  // Generated passwords hold '@', ':' and '/'; a URL can only carry them encoded.
  RedisAddress a = parseOk("redis://us%40er:p%40ss%3Aw%2Ford@127.0.0.1:6380/1");
  EXPECT_EQ(a.username, "us@er");
  EXPECT_EQ(a.password, "p@ss:w/ord");
  EXPECT_EQ(a.port, 6380);
  expectRejected("redis://:bad%zzpct@127.0.0.1");
}

TEST(RedisUrlTest, ConfigKeysOverrideTheUrl) {
  RedisAddress a;
  ASSERT_EQ(parseRedisUrl("redis://u:urlpw@127.0.0.1:6379/2", RedisOverrides{"acl", "keypw", 5}, a), "");
  EXPECT_EQ(a.username, "acl");
  EXPECT_EQ(a.password, "keypw");
  EXPECT_EQ(a.database, 5);
  // Unset keys leave the URL's values; database 0 from the keys beats the URL's 2.
  ASSERT_EQ(parseRedisUrl("redis://u:urlpw@127.0.0.1:6379/2", RedisOverrides{"", "", 0}, a), "");
  EXPECT_EQ(a.username, "u");
  EXPECT_EQ(a.password, "urlpw");
  EXPECT_EQ(a.database, 0);
  ASSERT_EQ(parseRedisUrl("unix:///tmp/r.sock", RedisOverrides{"", "pw", 3}, a), "");
  EXPECT_EQ(a.password, "pw");
  EXPECT_EQ(a.database, 3);
  // An ACL user without a password cannot AUTH.
  EXPECT_NE(parseRedisUrl("redis://127.0.0.1", RedisOverrides{"acl", "", -1}, a), "");
  EXPECT_EQ(parseRedisUrl("redis://127.0.0.1", RedisOverrides{"", "pw", -1}, a), "");
}

TEST(RedisHandshakeTest, AuthThenSelectOnlyWhenNeeded) {
  RedisAddress a = parseOk("redis://127.0.0.1:6379");
  EXPECT_TRUE(redisHandshake(a).empty());
  a = parseOk("redis://:pw@127.0.0.1:6379/3");
  auto steps = redisHandshake(a);
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0], (std::vector<std::string>{"AUTH", "pw"}));
  EXPECT_EQ(steps[1], (std::vector<std::string>{"SELECT", "3"}));
  a = parseOk("redis://acl:pw@127.0.0.1:6379");
  steps = redisHandshake(a);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0], (std::vector<std::string>{"AUTH", "acl", "pw"}));
  // The step's name, used in logs and errors, never carries the password.
  EXPECT_EQ(redisHandshakeStepName(steps[0]), "AUTH");
}

TEST(RedisSentinelTest, SentinelListEntries) {
  std::vector<RedisAddress> out;
  ASSERT_EQ(parseSentinels({"127.0.0.1:26379", "[::1]:26380", "localhost:26381"}, "spw", out), "");
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].host, "127.0.0.1");
  EXPECT_EQ(out[0].port, 26379);
  EXPECT_EQ(out[0].password, "spw");
  EXPECT_EQ(out[1].host, "::1");
  EXPECT_EQ(out[2].host, "127.0.0.1");
  for (const char* bad :
       {"sentinel.example:26379", "127.0.0.1:0", "127.0.0.1:26379/2", "u:p@127.0.0.1:1", ""}) {
    std::string error = parseSentinels({bad}, "", out);
    EXPECT_NE(error, "") << bad;
  }
}

RedisReply text(RedisReply::Kind kind, std::string value) {
  RedisReply r;
  r.kind = kind;
  r.text = std::move(value);
  return r;
}

TEST(RedisSentinelTest, MasterFromReply) {
  RedisReply reply;
  reply.kind = RedisReply::Kind::kArray;
  reply.elements = {text(RedisReply::Kind::kString, "127.0.0.1"), text(RedisReply::Kind::kString, "6380")};
  RedisAddress master = parseOk("redis://:pw@10.0.0.1:6379/3");
  ASSERT_EQ(masterFromSentinelReply(reply, master), "");
  EXPECT_EQ(master.host, "127.0.0.1");
  EXPECT_EQ(master.port, 6380);
  EXPECT_EQ(master.password, "pw");  // the master keeps its credentials and database
  EXPECT_EQ(master.database, 3);
  reply.elements[0].text = "::1";
  ASSERT_EQ(masterFromSentinelReply(reply, master), "");
  EXPECT_EQ(master.host, "::1");

  // unknown master name, an error, a hostname (blocking resolve), junk: refused with a reason
  EXPECT_NE(masterFromSentinelReply(text(RedisReply::Kind::kNil, ""), master), "");
  RedisReply noAuth = text(RedisReply::Kind::kError, "NOAUTH Authentication required.");
  EXPECT_NE(masterFromSentinelReply(noAuth, master), "");
  reply.elements[0].text = "redis-master.internal";
  EXPECT_NE(masterFromSentinelReply(reply, master), "");
  reply.elements[0].text = "127.0.0.1";
  reply.elements[1].text = "65536";
  EXPECT_NE(masterFromSentinelReply(reply, master), "");
  reply.elements.pop_back();
  EXPECT_NE(masterFromSentinelReply(reply, master), "");
}

}  // namespace
}  // namespace recgw::storage
