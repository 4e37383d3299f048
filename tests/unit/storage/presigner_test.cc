#include "storage/presigner.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "storage/s3_addressing.h"

namespace recgw::storage {
namespace {

using namespace std::chrono;  // NOLINT: calendar literals keep the fixtures readable

const system_clock::time_point kExampleTime = sys_days{2013y / May / 24};
const S3Credentials kExampleCredentials{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};

S3Location exampleBucket() {
  return S3Location{endpointUrl("s3.amazonaws.com"), "examplebucket", "us-east-1", Addressing::kAuto, ""};
}

std::string queryParam(const std::string& url, const std::string& name) {
  size_t q = url.find('?');
  if (q == std::string::npos) return "<none>";
  std::string query = "&" + url.substr(q + 1) + "&";
  size_t at = query.find("&" + name + "=");
  if (at == std::string::npos) return "<none>";
  size_t start = at + name.size() + 2;
  return query.substr(start, query.find('&', start) - start);
}

TEST(PresignerTest, FormatRfc3339Utc) {
  EXPECT_EQ(formatRfc3339Utc(kExampleTime), "2013-05-24T00:00:00Z");
  EXPECT_EQ(formatRfc3339Utc(sys_days{2024y / December / 31} + 23h + 59min + 59s + 999ms),
            "2024-12-31T23:59:59Z");
  EXPECT_EQ(formatRfc3339Utc(system_clock::time_point{}), "1970-01-01T00:00:00Z");
}

TEST(PresignerTest, ReproducesAwsPresignedExample) {
  SignedUrl signedUrl =
      generateSignedUrl(exampleBucket(), kExampleCredentials, "test.txt", 86400, kExampleTime);
  ASSERT_TRUE(signedUrl.ok()) << signedUrl.error;
  EXPECT_EQ(signedUrl.url,
            "https://examplebucket.s3.amazonaws.com/test.txt"
            "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
            "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
  EXPECT_EQ(signedUrl.expiresInSeconds, 86400);
  EXPECT_EQ(formatRfc3339Utc(signedUrl.expiresAt), "2013-05-25T00:00:00Z");
}

TEST(PresignerTest, DefaultExpiryIsOneDay) {
  SignedUrl signedUrl = generateSignedUrl(exampleBucket(), kExampleCredentials, "test.txt");
  ASSERT_TRUE(signedUrl.ok()) << signedUrl.error;
  EXPECT_EQ(signedUrl.expiresInSeconds, 86400);
  EXPECT_EQ(queryParam(signedUrl.url, "X-Amz-Expires"), "86400");
}

TEST(PresignerTest, ExpiresAtCountsFromWholeSeconds) {
  SignedUrl signedUrl =
      generateSignedUrl(exampleBucket(), kExampleCredentials, "test.txt", 300, kExampleTime + 1500ms);
  ASSERT_TRUE(signedUrl.ok()) << signedUrl.error;
  EXPECT_EQ(formatRfc3339Utc(signedUrl.expiresAt), "2013-05-24T00:05:01Z");
  EXPECT_EQ(signedUrl.expiresAt, kExampleTime + 1s + 300s);
}

TEST(PresignerTest, RegionFallsBackToEndpoint) {
  S3Location spaces{endpointUrl("nyc3.digitaloceanspaces.com"), "calls", "", Addressing::kAuto, ""};
  SignedUrl signedUrl = generateSignedUrl(spaces, kExampleCredentials, "2024/a b.ogg", 600, kExampleTime);
  ASSERT_TRUE(signedUrl.ok()) << signedUrl.error;
  EXPECT_EQ(signedUrl.url.substr(0, signedUrl.url.find('?')),
            "https://calls.nyc3.digitaloceanspaces.com/2024/a%20b.ogg");
  EXPECT_EQ(queryParam(signedUrl.url, "X-Amz-Credential"),
            "AKIAIOSFODNN7EXAMPLE%2F20130524%2Fnyc3%2Fs3%2Faws4_request");
  // What we hand out can be turned back into the key.
  EXPECT_EQ(extractS3KeyFromUrl(signedUrl.url), "2024/a b.ogg");
}

TEST(PresignerTest, PathStyleForMinio) {
  S3Location minio{endpointUrl("http://minio:9000"), "recordings", "us-east-1", Addressing::kAuto, ""};
  SignedUrl signedUrl = generateSignedUrl(minio, kExampleCredentials, "x/y.ogg", 60, kExampleTime);
  ASSERT_TRUE(signedUrl.ok()) << signedUrl.error;
  EXPECT_EQ(signedUrl.url.substr(0, signedUrl.url.find('?')), "http://minio:9000/recordings/x/y.ogg");
  EXPECT_EQ(extractS3KeyFromUrl(signedUrl.url), "x/y.ogg");
}

TEST(PresignerTest, OverridesAreSignedIntoTheUrl) {
  PresignOverrides overrides;
  overrides.contentDisposition = "inline; filename=\"call.ogg\"";
  overrides.contentType = "audio/ogg";
  SignedUrl withOverrides =
      generateSignedUrl(exampleBucket(), kExampleCredentials, "test.txt", 60, kExampleTime, overrides);
  ASSERT_TRUE(withOverrides.ok()) << withOverrides.error;
  EXPECT_EQ(queryParam(withOverrides.url, "response-content-disposition"),
            "inline%3B%20filename%3D%22call.ogg%22");
  EXPECT_EQ(queryParam(withOverrides.url, "response-content-type"), "audio%2Fogg");
  SignedUrl plain = generateSignedUrl(exampleBucket(), kExampleCredentials, "test.txt", 60, kExampleTime);
  EXPECT_NE(queryParam(withOverrides.url, "X-Amz-Signature"), queryParam(plain.url, "X-Amz-Signature"));
}

TEST(PresignerTest, SignedUrlValidation) {
  EXPECT_FALSE(generateSignedUrl(exampleBucket(), kExampleCredentials, "test.txt", 0, kExampleTime).ok());
  EXPECT_FALSE(
      generateSignedUrl(exampleBucket(), kExampleCredentials, "test.txt", 604801, kExampleTime).ok());
  EXPECT_TRUE(generateSignedUrl(exampleBucket(), kExampleCredentials, "test.txt", 604800, kExampleTime).ok());
  EXPECT_FALSE(generateSignedUrl(exampleBucket(), kExampleCredentials, "", 60, kExampleTime).ok());

  S3Location noBucket = exampleBucket();
  noBucket.bucket.clear();
  EXPECT_FALSE(generateSignedUrl(noBucket, kExampleCredentials, "k", 60, kExampleTime).ok());
  S3Location noEndpoint = exampleBucket();
  noEndpoint.endpoint.clear();
  EXPECT_FALSE(generateSignedUrl(noEndpoint, kExampleCredentials, "k", 60, kExampleTime).ok());
  EXPECT_FALSE(generateSignedUrl(exampleBucket(), S3Credentials{"", "secret", ""}, "k", 60, kExampleTime).ok());
  EXPECT_FALSE(generateSignedUrl(exampleBucket(), S3Credentials{"AK", "", ""}, "k", 60, kExampleTime).ok());

  SignedUrl failed = generateSignedUrl(exampleBucket(), kExampleCredentials, "test.txt", -1, kExampleTime);
  EXPECT_FALSE(failed.error.empty());
  EXPECT_TRUE(failed.url.empty());
}

TEST(PresignerTest, TemporaryPublicUrl) {
  SignedUrl tenMinutes =
      generateTemporaryPublicUrl(exampleBucket(), kExampleCredentials, "test.txt", 10, kExampleTime);
  ASSERT_TRUE(tenMinutes.ok()) << tenMinutes.error;
  EXPECT_EQ(tenMinutes.expiresInSeconds, 600);
  EXPECT_EQ(queryParam(tenMinutes.url, "X-Amz-Expires"), "600");
  EXPECT_EQ(formatRfc3339Utc(tenMinutes.expiresAt), "2013-05-24T00:10:00Z");

  SignedUrl week =
      generateTemporaryPublicUrl(exampleBucket(), kExampleCredentials, "test.txt", 7 * 24 * 60, kExampleTime);
  ASSERT_TRUE(week.ok()) << week.error;
  EXPECT_EQ(queryParam(week.url, "X-Amz-Expires"), "604800");

  EXPECT_FALSE(generateTemporaryPublicUrl(exampleBucket(), kExampleCredentials, "test.txt", 7 * 24 * 60 + 1,
                                          kExampleTime)
                   .ok());
  EXPECT_FALSE(
      generateTemporaryPublicUrl(exampleBucket(), kExampleCredentials, "test.txt", 0, kExampleTime).ok());
  EXPECT_FALSE(
      generateTemporaryPublicUrl(exampleBucket(), kExampleCredentials, "test.txt", -3, kExampleTime).ok());
  // Huge values must not overflow into a valid expiry.
  EXPECT_FALSE(generateTemporaryPublicUrl(exampleBucket(), kExampleCredentials, "test.txt", INT64_MAX / 30,
                                          kExampleTime)
                   .ok());
}

TEST(PresignerTest, ReusedPresignerDerivesKeyOncePerDayAndMatchesOneShot) {
  Presigner presigner(exampleBucket(), kExampleCredentials);
  for (int i = 0; i < 10; ++i) {
    SignedUrl u =
        presigner.generateSignedUrl("calls/" + std::to_string(i) + ".ogg", 3600, kExampleTime + minutes(i));
    ASSERT_TRUE(u.ok()) << u.error;
    EXPECT_EQ(u.url, generateSignedUrl(exampleBucket(), kExampleCredentials,
                                       "calls/" + std::to_string(i) + ".ogg", 3600, kExampleTime + minutes(i))
                         .url);
  }
  EXPECT_EQ(presigner.signer().keyDerivations(), 1u);
  EXPECT_EQ(presigner.location().bucket, "examplebucket");
}

}  // namespace
}  // namespace recgw::storage
