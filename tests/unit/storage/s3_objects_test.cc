#include "storage/s3_objects.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "storage/crypto.h"
#include <string>

namespace recgw::storage {
namespace {

using namespace std::chrono_literals;

const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));

S3Location minio(std::string bucket) {
  return S3Location{"http://127.0.0.1:9000", std::move(bucket), "us-east-1", Addressing::kPath, ""};
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

// ---- multipart upload helpers ----

TEST(MultipartTest, BareEtagDropsQuotesAndEntities) {
  EXPECT_EQ(bareEtag("\"9B2CF535F27731C974343645A3985328\""), "9b2cf535f27731c974343645a3985328");
  EXPECT_EQ(bareEtag("&quot;abc-2&quot;"), "abc-2");
  EXPECT_EQ(bareEtag("abc"), "abc");
}

// S3's multipart ETag: MD5 of the concatenated binary part MD5s, "-N".
TEST(MultipartTest, MultipartEtagIsMd5OfPartMd5s) {
  std::string a(5 * 1024 * 1024, 'a'), b = "tail";
  std::vector<std::string> md5s{crypto::md5(a), crypto::md5(b)};
  EXPECT_EQ(multipartEtag(md5s), crypto::hexLower(crypto::md5(md5s[0] + md5s[1])) + "-2");
  // One part: still "-1", not the single-PUT form.
  EXPECT_EQ(multipartEtag({crypto::md5("")}), crypto::hexLower(crypto::md5(crypto::md5(""))) + "-1");
}

TEST(MultipartTest, CompleteBodyListsPartsWithQuotedEtags) {
  std::string body = S3Objects::completeBody({{1, "\"aa\"", 5}, {2, "bb", 1}});
  EXPECT_NE(body.find("<Part><PartNumber>1</PartNumber><ETag>\"aa\"</ETag></Part>"), std::string::npos)
      << body;
  EXPECT_NE(body.find("<Part><PartNumber>2</PartNumber><ETag>\"bb\"</ETag></Part>"), std::string::npos)
      << body;
  EXPECT_EQ(body.rfind("<CompleteMultipartUpload", 0), 0u);
}

TEST(MultipartTest, ParsePartsAndTheNextMarker) {
  const char* xml =
      "<ListPartsResult><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId>"
      "<NextPartNumberMarker>2</NextPartNumberMarker><IsTruncated>true</IsTruncated>"
      "<Part><PartNumber>1</PartNumber><ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag>"
      "<Size>5242880</Size></Part>"
      "<Part><PartNumber>2</PartNumber><ETag>\"92eb5ffee6ae2fec3ad71c777531578f\"</ETag><Size>1</Size></Part>"
      "<Part><PartNumber>0</PartNumber><ETag>\"x\"</ETag><Size>1</Size></Part>"
      "</ListPartsResult>";
  int next = -1;
  auto parts = S3Objects::parseParts(xml, next);
  ASSERT_EQ(parts.size(), 2u);  // part 0 is not a part number
  EXPECT_EQ(parts[0].number, 1);
  EXPECT_EQ(parts[0].etag, "0cc175b9c0f1b6a831c399e269772661");
  EXPECT_EQ(parts[0].size, 5242880u);
  EXPECT_EQ(parts[1].number, 2);
  EXPECT_EQ(next, 2);
  S3Objects::parseParts("<ListPartsResult><IsTruncated>false</IsTruncated></ListPartsResult>", next);
  EXPECT_EQ(next, 0);
}

TEST(MultipartTest, ParseUploadsAndMarkers) {
  const char* xml =
      "<ListMultipartUploadsResult><IsTruncated>true</IsTruncated><NextKeyMarker>a/b</NextKeyMarker>"
      "<NextUploadIdMarker>u2</NextUploadIdMarker>"
      "<Upload><Key>a/b</Key><UploadId>u1</UploadId></Upload>"
      "<Upload><Key>a/b&amp;c</Key><UploadId>u2</UploadId></Upload></ListMultipartUploadsResult>";
  std::string key, id;
  auto uploads = S3Objects::parseUploads(xml, key, id);
  ASSERT_EQ(uploads.size(), 2u);
  EXPECT_EQ(uploads[1].key, "a/b&c");
  EXPECT_EQ(uploads[1].uploadId, "u2");
  EXPECT_EQ(key, "a/b");
  EXPECT_EQ(id, "u2");
  S3Objects::parseUploads("<ListMultipartUploadsResult/>", key, id);
  EXPECT_TRUE(key.empty() && id.empty());
}

TEST(MultipartTest, SignRequestPutsTheCanonicalQueryInTheUrl) {
  SigV4Signer signer("AKIDEXAMPLE", "secret", "us-east-1");
  S3Request r =
      S3Objects::signRequest("PUT", minio("cold"), "a b/c.webm", {{"uploadId", "x/y="}, {"partNumber", "3"}},
                             {{"content-md5", "AAAA"}}, signer, kNow);
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_EQ(r.url, "http://127.0.0.1:9000/cold/a%20b/c.webm?partNumber=3&uploadId=x%2Fy%3D");
  auto h = headerMap(r);
  EXPECT_EQ(h["content-md5"], "AAAA");
  EXPECT_NE(h["Authorization"].find("content-md5"), std::string::npos) << h["Authorization"];
  S3Request list =
      S3Objects::signRequest("GET", minio("cold"), "", {{"uploads", ""}, {"prefix", "k"}}, {}, signer, kNow);
  EXPECT_EQ(list.url, "http://127.0.0.1:9000/cold/?prefix=k&uploads=");
}

}  // namespace
}  // namespace recgw::storage
