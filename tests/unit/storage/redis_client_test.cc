// parseRedisUrl: the pure URL parsing of the Redis client.
#include "storage/redis_client.h"

#include <gtest/gtest.h>

#include <string>

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

}  // namespace
}  // namespace recgw::storage
