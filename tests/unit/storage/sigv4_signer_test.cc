#include "storage/sigv4_signer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "storage/crypto.h"
#include "storage/s3_addressing.h"

namespace recgw::storage {
namespace {

using namespace std::chrono;  // NOLINT: calendar literals keep the fixtures readable

// The credentials and instant of AWS's S3 SigV4 examples (S3 API Reference, "Signature
// Calculations for the Authorization Header: Transferring Payload in a Single Chunk" and
// "Authenticating Requests: Using Query Parameters").
constexpr char kAccessKey[] = "AKIAIOSFODNN7EXAMPLE";
constexpr char kSecretKey[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr char kExampleHost[] = "examplebucket.s3.amazonaws.com";
const system_clock::time_point kExampleTime = sys_days{2013y / May / 24};

SigV4Signer exampleSigner() { return SigV4Signer(kAccessKey, kSecretKey, "us-east-1", "s3"); }

S3Location exampleBucket() {
  return S3Location{endpointUrl("s3.amazonaws.com"), "examplebucket", "us-east-1", Addressing::kAuto, ""};
}

std::string headerValue(const SigV4Headers& signed_, std::string_view name) {
  for (const auto& header : signed_.headers) {
    if (header.name == name) return header.value;
  }
  return "<missing>";
}

TEST(SigV4SignerTest, FormatsAmzDate) {
  EXPECT_EQ(formatAmzDate(kExampleTime), "20130524T000000Z");
  EXPECT_EQ(formatAmzDate(sys_days{2024y / February / 29} + 23h + 59min + 58s + 999ms), "20240229T235958Z");
  EXPECT_EQ(formatAmzDate(system_clock::time_point{}), "19700101T000000Z");
  // Formatted once per second and remembered: the same second again, then the next one.
  auto t = sys_days{2026y / November / 25} + 15h + 59min + 59s;
  EXPECT_EQ(formatAmzDate(t + 100ms), "20261125T155959Z");
  EXPECT_EQ(formatAmzDate(t + 900ms), "20261125T155959Z");
  EXPECT_EQ(formatAmzDate(t + 1s), "20261125T160000Z");
  EXPECT_EQ(formatAmzDate(t), "20261125T155959Z");
}

TEST(SigV4SignerTest, AwsExampleGetObjectWithRange) {
  SigV4Signer signer = exampleSigner();
  // Header names in mixed case and out of order, as a client would send them.
  std::vector<HttpHeader> headers = {
      {"Range", "bytes=0-9"},
      {"Host", kExampleHost},
      {"x-amz-content-sha256", std::string(kEmptyPayloadSha256)},
      {"X-Amz-Date", "20130524T000000Z"},
  };
  ObjectTarget target = objectTarget(exampleBucket(), "test.txt");
  ASSERT_EQ(target.host, kExampleHost);
  ASSERT_EQ(target.canonicalUri, "/test.txt");
  RequestToSign request{"GET", target.canonicalUri, "", headers, kEmptyPayloadSha256};

  CanonicalRequest canonical = buildCanonicalRequest(request);
  ASSERT_TRUE(canonical.ok()) << canonical.error;
  EXPECT_EQ(canonical.text,
            "GET\n"
            "/test.txt\n"
            "\n"
            "host:examplebucket.s3.amazonaws.com\n"
            "range:bytes=0-9\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n"
            "\n"
            "host;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

  SigV4Signature signature = signer.sign(request, kExampleTime);
  ASSERT_TRUE(signature.ok()) << signature.error;
  EXPECT_EQ(signature.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(signature.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4SignerTest, AwsExamplePutObject) {
  SigV4Signer signer = exampleSigner();
  const std::string payloadHash = crypto::sha256Hex("Welcome to Amazon S3.");
  ASSERT_EQ(payloadHash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  // The example's key has a `$`, which must reach the canonical URI as %24.
  ObjectTarget target = objectTarget(exampleBucket(), "test$file.text");
  ASSERT_EQ(target.canonicalUri, "/test%24file.text");
  std::vector<HttpHeader> headers = {
      {"Host", kExampleHost},
      {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
      {"x-amz-date", "20130524T000000Z"},
      {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
      {"x-amz-content-sha256", payloadHash},
  };
  SigV4Signature signature =
      signer.sign(RequestToSign{"PUT", target.canonicalUri, "", headers, payloadHash}, kExampleTime);
  ASSERT_TRUE(signature.ok()) << signature.error;
  EXPECT_EQ(signature.signedHeaders, "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
  EXPECT_EQ(signature.signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4SignerTest, AwsExampleGetBucketLifecycle) {
  SigV4Signer signer = exampleSigner();
  std::vector<QueryParam> query = {{"lifecycle", ""}};
  std::string canonicalQuery = canonicalQueryString(query);
  EXPECT_EQ(canonicalQuery, "lifecycle=");
  std::vector<HttpHeader> headers = {
      {"Host", kExampleHost},
      {"x-amz-date", "20130524T000000Z"},
      {"x-amz-content-sha256", std::string(kEmptyPayloadSha256)},
  };
  SigV4Signature signature =
      signer.sign(RequestToSign{"GET", "/", canonicalQuery, headers, kEmptyPayloadSha256}, kExampleTime);
  ASSERT_TRUE(signature.ok()) << signature.error;
  EXPECT_EQ(signature.signature, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4SignerTest, AwsExampleListObjects) {
  SigV4Signer signer = exampleSigner();
  // Given out of order: the canonical query sorts them.
  std::vector<QueryParam> query = {{"prefix", "J"}, {"max-keys", "2"}};
  std::string canonicalQuery = canonicalQueryString(query);
  EXPECT_EQ(canonicalQuery, "max-keys=2&prefix=J");
  std::vector<HttpHeader> headers = {
      {"Host", kExampleHost},
      {"x-amz-date", "20130524T000000Z"},
      {"x-amz-content-sha256", std::string(kEmptyPayloadSha256)},
  };
  SigV4Signature signature =
      signer.sign(RequestToSign{"GET", "/", canonicalQuery, headers, kEmptyPayloadSha256}, kExampleTime);
  ASSERT_TRUE(signature.ok()) << signature.error;
  EXPECT_EQ(signature.signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4SignerTest, AwsExamplePresignedGetObject) {
  SigV4Signer signer = exampleSigner();
  ObjectTarget target = objectTarget(exampleBucket(), "test.txt");
  PresignedUrl presigned = signer.presign("GET", target, 86400, kExampleTime);
  ASSERT_TRUE(presigned.ok()) << presigned.error;
  EXPECT_EQ(presigned.url,
            "https://examplebucket.s3.amazonaws.com/test.txt"
            "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Date=20130524T000000Z"
            "&X-Amz-Expires=86400"
            "&X-Amz-SignedHeaders=host"
            "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

// AWS's generic SigV4 test suite (service "service", 2015-08-30T12:36:00Z): the signer is
// not S3-specific below signHeaders().
TEST(SigV4SignerTest, AwsTestSuiteGetVanilla) {
  SigV4Signer signer("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "service");
  std::vector<HttpHeader> headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}};
  SigV4Signature signature = signer.sign(RequestToSign{"GET", "/", "", headers, kEmptyPayloadSha256},
                                         sys_days{2015y / August / 30} + 12h + 36min);
  ASSERT_TRUE(signature.ok()) << signature.error;
  EXPECT_EQ(signature.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request,"
            "SignedHeaders=host;x-amz-date,"
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4SignerTest, AwsTestSuiteHeaderValueTrimAndOrder) {
  std::vector<HttpHeader> trim = {{"Host", "example.amazonaws.com"},
                                  {"My-Header1", " value1"},
                                  {"My-Header2", " \"a   b   c\""},
                                  {"X-Amz-Date", "20150830T123600Z"}};
  CanonicalRequest canonical = buildCanonicalRequest({"GET", "/", "", trim, kEmptyPayloadSha256});
  ASSERT_TRUE(canonical.ok()) << canonical.error;
  EXPECT_EQ(canonical.text,
            "GET\n/\n\n"
            "host:example.amazonaws.com\n"
            "my-header1:value1\n"
            "my-header2:\"a b c\"\n"
            "x-amz-date:20150830T123600Z\n\n"
            "host;my-header1;my-header2;x-amz-date\n" +
                std::string(kEmptyPayloadSha256));

  // Repeated headers are joined in the order they were sent, not sorted by value.
  std::vector<HttpHeader> order = {{"Host", "example.amazonaws.com"}, {"My-Header1", "value4"},
                                   {"My-Header1", "value1"},          {"My-Header1", "value3"},
                                   {"My-Header1", "value2"},          {"X-Amz-Date", "20150830T123600Z"}};
  canonical = buildCanonicalRequest({"GET", "/", "", order, kEmptyPayloadSha256});
  ASSERT_TRUE(canonical.ok()) << canonical.error;
  EXPECT_EQ(canonical.text,
            "GET\n/\n\n"
            "host:example.amazonaws.com\n"
            "my-header1:value4,value1,value3,value2\n"
            "x-amz-date:20150830T123600Z\n\n"
            "host;my-header1;x-amz-date\n" +
                std::string(kEmptyPayloadSha256));
}

TEST(SigV4SignerTest, SignHeadersAddsUnsignedPayloadAndDate) {
  SigV4Signer signer = exampleSigner();
  ObjectTarget target = objectTarget(exampleBucket(), "test.txt");
  std::vector<HttpHeader> extra = {{"Range", "  bytes=0-9 "}};
  SigV4Headers signed_ = signer.signHeaders("GET", target, extra, kExampleTime);
  ASSERT_TRUE(signed_.ok()) << signed_.error;
  ASSERT_EQ(signed_.headers.size(), 3u);
  EXPECT_EQ(signed_.headers[0].name, "x-amz-date");
  EXPECT_EQ(headerValue(signed_, "x-amz-date"), "20130524T000000Z");
  EXPECT_EQ(headerValue(signed_, "x-amz-content-sha256"), "UNSIGNED-PAYLOAD");

  // The same request through the low-level signer, with UNSIGNED-PAYLOAD spelled out.
  std::vector<HttpHeader> all = {{"host", kExampleHost},
                                 {"range", "bytes=0-9"},
                                 {"x-amz-content-sha256", "UNSIGNED-PAYLOAD"},
                                 {"x-amz-date", "20130524T000000Z"}};
  SigV4Signature expected =
      signer.sign(RequestToSign{"GET", "/test.txt", "", all, kUnsignedPayload}, kExampleTime);
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(headerValue(signed_, "Authorization"), expected.authorization);
  EXPECT_NE(
      headerValue(signed_, "Authorization").find("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"),
      std::string::npos);
}

// Temporary credentials: the expected values are botocore 1.x's (S3SigV4Auth with payload
// signing off, S3SigV4QueryAuth), same keys, token and instant.
constexpr char kSessionToken[] = "FQoGZXIvYXdzEJr//////////wEaDOExampleToken+/=";

TEST(SigV4SignerTest, SessionTokenIsSignedAsHeaderLikeBotocore) {
  SigV4Signer signer(kAccessKey, kSecretKey, "us-east-1", "s3", kSessionToken);
  EXPECT_TRUE(signer.hasSessionToken());
  ObjectTarget target = objectTarget(exampleBucket(), "test.txt");
  std::vector<HttpHeader> extra = {{"Range", "bytes=0-9"}};
  SigV4Headers signed_ = signer.signHeaders("GET", target, extra, kExampleTime);
  ASSERT_TRUE(signed_.ok()) << signed_.error;
  EXPECT_EQ(headerValue(signed_, "x-amz-security-token"), kSessionToken);
  EXPECT_EQ(headerValue(signed_, "Authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date;x-amz-security-token,"
            "Signature=cf410ba9cb66681b0bb1dde19d8839ab129d3ba478ccc5410334ba82c8c38eb1");
  // A caller may not smuggle its own token past the signer.
  std::vector<HttpHeader> own = {{"X-Amz-Security-Token", "other"}};
  EXPECT_FALSE(signer.signHeaders("GET", target, own, kExampleTime).ok());
}

TEST(SigV4SignerTest, SessionTokenIsSignedInPresignedQueryLikeBotocore) {
  SigV4Signer signer(kAccessKey, kSecretKey, "us-east-1", "s3", kSessionToken);
  ObjectTarget target = objectTarget(exampleBucket(), "test.txt");
  PresignedUrl presigned = signer.presign("GET", target, 86400, kExampleTime);
  ASSERT_TRUE(presigned.ok()) << presigned.error;
  EXPECT_EQ(presigned.url,
            "https://examplebucket.s3.amazonaws.com/test.txt"
            "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Date=20130524T000000Z"
            "&X-Amz-Expires=86400"
            "&X-Amz-SignedHeaders=host"
            "&X-Amz-Security-Token=FQoGZXIvYXdzEJr%2F%2F%2F%2F%2F%2F%2F%2F%2F%2FwEaDOExampleToken%2B%2F%3D"
            "&X-Amz-Signature=8a5dcdbdf57713ed152574680e01e0ca06290ddaa8d301654845676680086ba7");
  // With an extra (response-content-type) the signature still covers the sorted query.
  std::vector<QueryParam> extra = {{"response-content-type", "audio/ogg"}};
  PresignedUrl withExtra = signer.presign("GET", target, 86400, kExampleTime, extra);
  ASSERT_TRUE(withExtra.ok()) << withExtra.error;
  EXPECT_NE(withExtra.url.find("Signature=b23c29668b0ac5f2a7a53b1595cd986967bf845d97e982ca453acf7d619a3083"),
            std::string::npos)
      << withExtra.url;
  std::vector<QueryParam> shadow = {{"x-amz-security-token", "other"}};
  EXPECT_FALSE(signer.presign("GET", target, 60, kExampleTime, shadow).ok());
}

TEST(SigV4SignerTest, SignHeadersWithoutExtrasSignsTheThreeMandatoryHeaders) {
  SigV4Signer signer = exampleSigner();
  SigV4Headers signed_ = signer.signHeaders("HEAD", kExampleHost, "/test.txt", "", {}, kExampleTime);
  ASSERT_TRUE(signed_.ok()) << signed_.error;
  EXPECT_NE(headerValue(signed_, "Authorization").find("SignedHeaders=host;x-amz-content-sha256;x-amz-date,"),
            std::string::npos);
}

TEST(SigV4SignerTest, SignHeadersRejectsManagedAndMalformedHeaders) {
  SigV4Signer signer = exampleSigner();
  ObjectTarget target = objectTarget(exampleBucket(), "test.txt");
  for (const char* name : {"Host", "X-Amz-Date", "x-amz-content-sha256", "Authorization"}) {
    std::vector<HttpHeader> extra = {{name, "x"}};
    EXPECT_FALSE(signer.signHeaders("GET", target, extra, kExampleTime).ok()) << name;
  }
  std::vector<HttpHeader> badName = {{"bad name", "x"}};
  EXPECT_FALSE(signer.signHeaders("GET", target, badName, kExampleTime).ok());
  std::vector<HttpHeader> emptyName = {{"", "x"}};
  EXPECT_FALSE(signer.signHeaders("GET", target, emptyName, kExampleTime).ok());
  std::vector<HttpHeader> injected = {{"If-Match", "\"abc\"\r\nX-Evil: 1"}};
  EXPECT_FALSE(signer.signHeaders("GET", target, injected, kExampleTime).ok());
  EXPECT_FALSE(signer.signHeaders("GET", "", "/test.txt", "", {}, kExampleTime).ok());
  EXPECT_FALSE(signer.signHeaders("", target, {}, kExampleTime).ok());
}

TEST(SigV4SignerTest, CopiesSignAlikeWithTheirOwnKeyedContext) {
  SigV4Signer signer = exampleSigner();
  ObjectTarget target = objectTarget(exampleBucket(), "test.txt");
  auto authorizationOf = [&](SigV4Signer& s) {
    auto signed_ = s.signHeaders("GET", target, {}, kExampleTime);
    for (const auto& h : signed_.headers)
      if (h.name == "Authorization") return h.value;
    return std::string("(none)");
  };
  std::string first = authorizationOf(signer);
  ASSERT_NE(first, "(none)");
  SigV4Signer copy = signer;  // after the original keyed its MAC
  SigV4Signer assigned = exampleSigner();
  assigned = signer;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(authorizationOf(copy), first);
    EXPECT_EQ(authorizationOf(assigned), first);
    EXPECT_EQ(authorizationOf(signer), first);
  }
}

TEST(SigV4SignerTest, SigningKeyIsDerivedOncePerDay) {
  SigV4Signer signer = exampleSigner();
  ObjectTarget target = objectTarget(exampleBucket(), "test.txt");
  EXPECT_EQ(signer.keyDerivations(), 0u);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(signer.signHeaders("GET", target, {}, kExampleTime + minutes(i * 20)).ok());
    ASSERT_TRUE(signer.presign("GET", target, 60, kExampleTime + minutes(i * 20) + 1s).ok());
  }
  EXPECT_EQ(signer.keyDerivations(), 1u);  // 50 * 20 min < 24 h
  ASSERT_TRUE(signer.presign("GET", target, 60, kExampleTime + days(1)).ok());
  EXPECT_EQ(signer.keyDerivations(), 2u);
  // The cached key must be the right one for the new day: a fresh signer agrees.
  SigV4Signer fresh = exampleSigner();
  EXPECT_EQ(signer.presign("GET", target, 60, kExampleTime + days(1) + 5h).url,
            fresh.presign("GET", target, 60, kExampleTime + days(1) + 5h).url);
  // And going back a day re-derives rather than reusing the newer key.
  EXPECT_EQ(signer.presign("GET", target, 86400, kExampleTime).url,
            "https://examplebucket.s3.amazonaws.com/test.txt"
            "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
            "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

TEST(SigV4SignerTest, PresignValidatesExpiry) {
  SigV4Signer signer = exampleSigner();
  ObjectTarget target = objectTarget(exampleBucket(), "test.txt");
  EXPECT_FALSE(signer.presign("GET", target, 0, kExampleTime).ok());
  EXPECT_FALSE(signer.presign("GET", target, -5, kExampleTime).ok());
  EXPECT_FALSE(signer.presign("GET", target, 604801, kExampleTime).ok());
  EXPECT_TRUE(signer.presign("GET", target, 1, kExampleTime).ok());
  PresignedUrl week = signer.presign("GET", target, 604800, kExampleTime);
  ASSERT_TRUE(week.ok()) << week.error;
  EXPECT_NE(week.url.find("&X-Amz-Expires=604800&"), std::string::npos);
}

TEST(SigV4SignerTest, PresignSortsAndEncodesExtraQuery) {
  SigV4Signer signer = exampleSigner();
  ObjectTarget target = objectTarget(exampleBucket(), "calls/a b.ogg");
  std::vector<QueryParam> extra = {
      {"response-content-type", "audio/ogg"},
      {"response-content-disposition", "attachment; filename=\"a b.ogg\""},
  };
  PresignedUrl presigned = signer.presign("GET", target, 300, kExampleTime, extra);
  ASSERT_TRUE(presigned.ok()) << presigned.error;
  const std::string prefix = "https://examplebucket.s3.amazonaws.com/calls/a%20b.ogg?";
  ASSERT_EQ(presigned.url.substr(0, prefix.size()), prefix);
  std::string query = presigned.url.substr(prefix.size());
  // Upper-case X-Amz-* sort before lower-case response-*; values encode `/`, `;`, `"`, ` `.
  EXPECT_EQ(query.substr(0, query.find("&X-Amz-Signature=")),
            "X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host"
            "&response-content-disposition=attachment%3B%20filename%3D%22a%20b.ogg%22"
            "&response-content-type=audio%2Fogg");
  EXPECT_EQ(query.size() - query.find("&X-Amz-Signature=") - 17, 64u);
  // The extra parameters are signed: without them the signature changes.
  PresignedUrl plain = signer.presign("GET", target, 300, kExampleTime);
  EXPECT_NE(plain.url.substr(plain.url.size() - 64), presigned.url.substr(presigned.url.size() - 64));
}

TEST(SigV4SignerTest, PresignRejectsShadowedParameters) {
  SigV4Signer signer = exampleSigner();
  ObjectTarget target = objectTarget(exampleBucket(), "test.txt");
  for (const char* name : {"X-Amz-Signature", "x-amz-expires", "X-Amz-Credential", ""}) {
    std::vector<QueryParam> extra = {{name, "1"}};
    EXPECT_FALSE(signer.presign("GET", target, 60, kExampleTime, extra).ok()) << name;
  }
}

TEST(SigV4SignerTest, CanonicalQueryStringEncodesAndSorts) {
  std::vector<QueryParam> params = {{"b", "x y"}, {"a", "1/2"}, {"a", "0"}, {"c~d", ""}, {"A", "+"}};
  EXPECT_EQ(canonicalQueryString(params), "A=%2B&a=0&a=1%2F2&b=x%20y&c~d=");
  EXPECT_EQ(canonicalQueryString({}), "");
}

TEST(SigV4SignerTest, BuildCanonicalRequestRequiresHost) {
  std::vector<HttpHeader> headers = {{"x-amz-date", "20130524T000000Z"}};
  EXPECT_FALSE(buildCanonicalRequest({"GET", "/", "", headers, kUnsignedPayload}).ok());
  // An empty path is signed as "/".
  std::vector<HttpHeader> host = {{"host", "h"}};
  CanonicalRequest canonical = buildCanonicalRequest({"GET", "", "", host, kUnsignedPayload});
  ASSERT_TRUE(canonical.ok());
  EXPECT_EQ(canonical.text, "GET\n/\n\nhost:h\n\nhost\nUNSIGNED-PAYLOAD");
}

TEST(SigV4SignerTest, CopiesSignIdentically) {
  SigV4Signer signer = exampleSigner();
  ObjectTarget target = objectTarget(exampleBucket(), "test.txt");
  ASSERT_TRUE(signer.presign("GET", target, 60, kExampleTime).ok());
  SigV4Signer copy = signer;
  EXPECT_EQ(copy.presign("GET", target, 60, kExampleTime).url,
            signer.presign("GET", target, 60, kExampleTime).url);
  EXPECT_EQ(copy.accessKey(), kAccessKey);
  EXPECT_EQ(copy.region(), "us-east-1");
  EXPECT_EQ(copy.service(), "s3");
}

}  // namespace
}  // namespace recgw::storage
