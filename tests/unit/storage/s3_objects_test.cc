#include "storage/s3_objects.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace recgw::storage {
namespace {

using namespace std::chrono_literals;

const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));

S3Location minio(std::string bucket) {
  return S3Location{"http://127.0.0.1:9000", std::move(bucket), "us-east-1", Addressing::kPath};
}

std::map<std::string, std::string> headerMap(const S3Request& r) {
  std::map<std::string, std::string> m;
  for (const auto& [k, v] : r.headers) m[k] = v;
  return m;
}

TEST(CopySourceTest, BucketAndEncodedKeyWithSlashesKept) {
  EXPECT_EQ(S3Objects::copySource("hot", "a/b.ogg"), "/hot/a/b.ogg");
  EXPECT_EQ(S3Objects::copySource("hot", "rooms/x y/ä+1.webm"), "/hot/rooms/x%20y/%C3%A4%2B1.webm");
}

TEST(SignCopyTest, SignsCopySourceAndStorageClass) {
  SigV4Signer signer("AKIDEXAMPLE", "secret", "us-east-1");
  S3Request r =
      S3Objects::signCopy(minio("hot"), "a/b c.ogg", minio("cold"), "a/b c.ogg", "GLACIER_IR", signer, kNow);
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.url, "http://127.0.0.1:9000/cold/a/b%20c.ogg");
  auto h = headerMap(r);
  EXPECT_EQ(h["x-amz-copy-source"], "/hot/a/b%20c.ogg");
  EXPECT_EQ(h["x-amz-storage-class"], "GLACIER_IR");
  EXPECT_EQ(h["x-amz-metadata-directive"], "COPY");
  EXPECT_EQ(h["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
  EXPECT_EQ(h["x-amz-date"], "20231114T221320Z");
  EXPECT_EQ(h.count("Content-Type"), 1u);  // sent empty: curl must not label the PUT a form
  EXPECT_EQ(h["Content-Type"], "");
  const std::string& authz = h["Authorization"];
  EXPECT_EQ(authz.rfind("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/s3/aws4_request", 0), 0u)
      << authz;
  EXPECT_NE(authz.find("SignedHeaders=host;x-amz-content-sha256;x-amz-copy-source;x-amz-date;"
                       "x-amz-metadata-directive;x-amz-storage-class,"),
            std::string::npos)
      << authz;
}

TEST(SignCopyTest, NoStorageClassHeaderWhenEmpty) {
  SigV4Signer signer("AK", "SK", "us-east-1");
  S3Request r = S3Objects::signCopy(minio("hot"), "k", minio("cold"), "k", "", signer, kNow);
  auto h = headerMap(r);
  EXPECT_EQ(h.count("x-amz-storage-class"), 0u);
  EXPECT_EQ(h["Authorization"].find("x-amz-storage-class"), std::string::npos);
}

TEST(SignCopyTest, SignatureChangesWithTheSignedHeaders) {
  SigV4Signer signer("AK", "SK", "us-east-1");
  auto a = headerMap(S3Objects::signCopy(minio("hot"), "k", minio("cold"), "k", "STANDARD", signer, kNow));
  auto b = headerMap(S3Objects::signCopy(minio("hot"), "k", minio("cold"), "k", "GLACIER", signer, kNow));
  auto c = headerMap(S3Objects::signCopy(minio("other"), "k", minio("cold"), "k", "STANDARD", signer, kNow));
  EXPECT_NE(a["Authorization"], b["Authorization"]);
  EXPECT_NE(a["Authorization"], c["Authorization"]);
}

TEST(SignBodilessTest, HeadAndDelete) {
  SigV4Signer signer("AK", "SK", "us-east-1");
  for (const char* method : {"HEAD", "DELETE"}) {
    S3Request r = S3Objects::signBodiless(method, minio("hot"), "x/y.ogg", signer, kNow);
    ASSERT_TRUE(r.error.empty());
    EXPECT_EQ(r.method, method);
    EXPECT_EQ(r.url, "http://127.0.0.1:9000/hot/x/y.ogg");
    auto h = headerMap(r);
    EXPECT_EQ(h["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    EXPECT_NE(h["Authorization"].find("SignedHeaders=host;x-amz-content-sha256;x-amz-date,"),
              std::string::npos);
  }
}

TEST(ParseErrorTest, CodeAndMessage) {
  auto [code, message] = S3Objects::parseError(
      "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The key does not "
      "exist</Message></Error>");
  EXPECT_EQ(code, "NoSuchKey");
  EXPECT_EQ(message, "The key does not exist");
  EXPECT_EQ(S3Objects::parseError("<CopyObjectResult/>").first, "");
  EXPECT_EQ(S3Objects::parseError("").first, "");
}

TEST(InterpretCopyTest, OkOnlyWithAResult) {
  EXPECT_TRUE(S3Objects::interpretCopy(200, "<CopyObjectResult><ETag>\"x\"</ETag></CopyObjectResult>").ok());
  // A copy can fail after S3 sent 200.
  S3Outcome late =
      S3Objects::interpretCopy(200, "<Error><Code>InternalError</Code><Message>m</Message></Error>");
  EXPECT_EQ(late.kind, S3Outcome::Kind::kError);
  EXPECT_EQ(late.code, "InternalError");
  EXPECT_EQ(S3Objects::interpretCopy(200, "").kind, S3Outcome::Kind::kError);
  EXPECT_TRUE(S3Objects::interpretCopy(404, "<Error><Code>NoSuchKey</Code></Error>").notFound());
  EXPECT_EQ(S3Objects::interpretCopy(404, "<Error><Code>NoSuchBucket</Code></Error>").kind,
            S3Outcome::Kind::kError);
  S3Outcome bad =
      S3Objects::interpretCopy(400, "<Error><Code>InvalidStorageClass</Code><Message>nope</Message></Error>");
  EXPECT_EQ(bad.kind, S3Outcome::Kind::kError);
  EXPECT_NE(bad.reason.find("InvalidStorageClass"), std::string::npos);
  EXPECT_NE(bad.reason.find("400"), std::string::npos);
}

TEST(InterpretStatusTest, HeadAndDeleteAnswers) {
  EXPECT_TRUE(S3Objects::interpretStatus(200, "").ok());
  EXPECT_TRUE(S3Objects::interpretStatus(204, "").ok());
  EXPECT_TRUE(S3Objects::interpretStatus(404, "").notFound());
  EXPECT_EQ(S3Objects::interpretStatus(404, "<Error><Code>NoSuchBucket</Code></Error>").kind,
            S3Outcome::Kind::kError);
  EXPECT_EQ(S3Objects::interpretStatus(403, "").kind, S3Outcome::Kind::kError);
  EXPECT_EQ(S3Objects::interpretStatus(503, "").httpStatus, 503);
}

TEST(VerifyCopyTest, SizeEtagAndClass) {
  S3ObjectInfo hot{1000, "\"abc\"", "", "audio/ogg"};
  S3ObjectInfo copy{1000, "\"abc\"", "GLACIER_IR", "audio/ogg"};
  EXPECT_EQ(verifyCopy(hot, copy, "GLACIER_IR"), "");
  EXPECT_EQ(verifyCopy(hot, copy, "glacier_ir"), "");
  EXPECT_NE(verifyCopy(hot, copy, "DEEP_ARCHIVE"), "");
  S3ObjectInfo shorter = copy;
  shorter.size = 999;
  EXPECT_NE(verifyCopy(hot, shorter, ""), "");
  S3ObjectInfo otherEtag = copy;
  otherEtag.etag = "\"def\"";
  EXPECT_NE(verifyCopy(hot, otherEtag, ""), "");
  // Multipart ETags depend on the part size, so they are not compared.
  S3ObjectInfo multipart = copy;
  multipart.etag = "\"def-3\"";
  EXPECT_EQ(verifyCopy(hot, multipart, ""), "");
  // No header: STANDARD.
  S3ObjectInfo standard = copy;
  standard.storageClass = "";
  EXPECT_EQ(verifyCopy(hot, standard, "STANDARD"), "");
  EXPECT_NE(verifyCopy(hot, standard, "GLACIER_IR"), "");
}

TEST(StorageClassTest, OnlyGlacierAndDeepArchiveNeedARestore) {
  for (const char* c : {"", "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA",
                        "INTELLIGENT_TIERING", "GLACIER_IR", "glacier_ir", "SOMETHING_MINIO"}) {
    EXPECT_TRUE(storageClassAllowsGet(c)) << c;
  }
  EXPECT_FALSE(storageClassAllowsGet("GLACIER"));
  EXPECT_FALSE(storageClassAllowsGet("deep_archive"));
}

}  // namespace
}  // namespace recgw::storage
