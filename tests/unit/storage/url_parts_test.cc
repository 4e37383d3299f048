#include "storage/url_parts.h"

#include <gtest/gtest.h>

namespace recgw::storage {
namespace {

TEST(UrlPartsTest, SplitsSchemeAuthorityAndPath) {
  UrlParts p = splitUrl("https://user:pw@Bucket.example.com:8443/a/b.ogg?X-Amz-Date=1#frag");
  EXPECT_EQ(p.scheme, "https");
  EXPECT_EQ(p.authority, "Bucket.example.com:8443");  // userinfo dropped, case kept
  EXPECT_EQ(p.path, "/a/b.ogg");
}

TEST(UrlPartsTest, TextWithoutSchemeIsAuthorityAndPath) {
  UrlParts p = splitUrl("minio:9000/prefix/");
  EXPECT_EQ(p.scheme, "");
  EXPECT_EQ(p.authority, "minio:9000");
  EXPECT_EQ(p.path, "/prefix/");
  // A `://` after the path starts (inside a query) is not a scheme.
  p = splitUrl("host/x?u=https://other");
  EXPECT_EQ(p.scheme, "");
  EXPECT_EQ(p.authority, "host");
  EXPECT_EQ(p.path, "/x");
  // Nor is one whose name is not a scheme name.
  EXPECT_EQ(splitUrl("1http://h/").scheme, "");
  EXPECT_EQ(splitUrl("://h/").scheme, "");
  EXPECT_EQ(splitUrl("s3+x.y-z://h/").scheme, "s3+x.y-z");
}

TEST(UrlPartsTest, QueryOrFragmentRightAfterAuthorityLeavesNoPath) {
  EXPECT_EQ(splitUrl("https://h?x=/y").path, "");
  EXPECT_EQ(splitUrl("https://h#/y").path, "");
  EXPECT_EQ(splitUrl("https://h").path, "");
}

TEST(UrlPartsTest, HostnameOf) {
  EXPECT_EQ(hostnameOf("example.com:9000"), "example.com");
  EXPECT_EQ(hostnameOf("example.com"), "example.com");
  EXPECT_EQ(hostnameOf("[::1]:9000"), "[::1]");
  EXPECT_EQ(hostnameOf("[::1]"), "[::1]");
  EXPECT_EQ(hostnameOf(""), "");
}

TEST(UrlPartsTest, TrimSpace) {
  EXPECT_EQ(trimSpace(" \t\r\nhttps://h/ \n"), "https://h/");
  EXPECT_EQ(trimSpace("   "), "");
  EXPECT_EQ(trimSpace("a b"), "a b");
}

}  // namespace
}  // namespace recgw::storage
