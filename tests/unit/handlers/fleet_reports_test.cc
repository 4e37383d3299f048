// Upload reports: the HMAC signature (parse, sign, check with skew) and the body parsing.
#include "handlers/fleet_reports.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace recgw::handlers {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;
using R = SignatureCheck::Result;

constexpr const char* kSecret = "fleet-secret";
const system_clock::time_point kNow = system_clock::time_point(seconds(1'700'000'000));

std::string header(int64_t t, const std::string& mac) { return "t=" + std::to_string(t) + ",v1=" + mac; }

TEST(ReportSignatureTest, KnownVector) {
  // HMAC-SHA256(key="fleet-secret", "1700000000.{}"), computed independently (Python hmac).
  EXPECT_EQ(signReport(kSecret, 1700000000, "{}"),
            "3ef85fbcc8fe7ab12006f748da2e8826111f8b4ff39a8f061d02c7fe0de745eb");
}

TEST(ReportSignatureTest, ParsesTimeAndMacs) {
  std::string mac(64, 'a');
  auto sig = parseReportSignature("t=12, v1=" + mac + ",v2=zz,v1=" + std::string(64, 'B'));
  ASSERT_TRUE(sig);
  EXPECT_EQ(sig->timestamp, 12);
  ASSERT_EQ(sig->macs.size(), 2u);
  EXPECT_EQ(sig->macs[1], std::string(64, 'b'));
}

TEST(ReportSignatureTest, RejectsMalformedHeaders) {
  std::string mac(64, 'a');
  std::vector<std::string> bad{"",
                               "v1=" + mac,
                               "t=5",
                               "t=x,v1=" + mac,
                               "t=-5,v1=" + mac,
                               "t=5,v1=abc",
                               "t=5,v1=" + std::string(64, 'g'),
                               "t=5,t=6,v1=" + mac,
                               "garbage",
                               "t=5;v1=" + mac};
  for (const std::string& header : bad) {
    EXPECT_FALSE(parseReportSignature(header)) << header;
  }
}

TEST(ReportSignatureTest, AcceptsAValidSignatureWithinTheSkew) {
  std::string body = R"({"session_id":"s"})";
  for (int64_t offset : {0, -300, 300, 17}) {
    int64_t t = 1'700'000'000 + offset;
    std::string h = header(t, signReport(kSecret, t, body));
    EXPECT_EQ(checkReportSignature(h.c_str(), body, kSecret, kNow, 300).result, R::kOk) << offset;
  }
}

TEST(ReportSignatureTest, RefusesAReplayOutsideTheSkewEitherWay) {
  std::string body = "{}";
  for (int64_t offset : {-301, 301, -100000}) {
    int64_t t = 1'700'000'000 + offset;
    std::string h = header(t, signReport(kSecret, t, body));
    SignatureCheck c = checkReportSignature(h.c_str(), body, kSecret, kNow, 300);
    EXPECT_EQ(c.result, R::kExpired) << offset;
    EXPECT_NE(c.message.find("300"), std::string::npos);
  }
}

TEST(ReportSignatureTest, RefusesAChangedBodyAWrongSecretAndAMovedTime) {
  int64_t t = 1'700'000'000;
  std::string body = R"({"size":10})";
  std::string mac = signReport(kSecret, t, body);
  EXPECT_EQ(checkReportSignature(header(t, mac).c_str(), R"({"size":11})", kSecret, kNow, 300).result,
            R::kMismatch);
  EXPECT_EQ(checkReportSignature(header(t, mac).c_str(), body, "other-secret", kNow, 300).result,
            R::kMismatch);
  EXPECT_EQ(checkReportSignature(header(t + 1, mac).c_str(), body, kSecret, kNow, 300).result, R::kMismatch);
  // The message never carries the expected MAC.
  SignatureCheck c = checkReportSignature(header(t, mac).c_str(), "{}", kSecret, kNow, 300);
  EXPECT_EQ(c.message.find(signReport(kSecret, t, "{}")), std::string::npos);
}

TEST(ReportSignatureTest, AnyOfSeveralMacsMayMatch) {
  int64_t t = 1'700'000'000;
  std::string h =
      "t=" + std::to_string(t) + ",v1=" + std::string(64, '0') + ",v1=" + signReport(kSecret, t, "{}");
  EXPECT_EQ(checkReportSignature(h.c_str(), "{}", kSecret, kNow, 300).result, R::kOk);
}

TEST(ReportSignatureTest, MissingAndMalformed) {
  EXPECT_EQ(checkReportSignature(nullptr, "{}", kSecret, kNow, 300).result, R::kMissing);
  EXPECT_EQ(checkReportSignature("", "{}", kSecret, kNow, 300).result, R::kMissing);
  EXPECT_EQ(checkReportSignature("sha256=abc", "{}", kSecret, kNow, 300).result, R::kMalformed);
}

constexpr const char* kValid =
    R"({"session_id":"s-1","key":"rec/s-1.mp3","size":123,"etag":"\"abc\"","content_type":"audio/mpeg"})";

TEST(ParseUploadReportTest, Valid) {
  ReportParse p = parseUploadReport(kValid);
  ASSERT_TRUE(p.report) << p.message;
  EXPECT_EQ(p.report->facts.sessionId, "s-1");
  EXPECT_EQ(p.report->facts.key, "rec/s-1.mp3");
  EXPECT_EQ(p.report->facts.size, 123u);
  EXPECT_EQ(p.report->facts.etag, "\"abc\"");
  EXPECT_EQ(p.report->facts.contentType, "audio/mpeg");
  EXPECT_FALSE(p.report->facts.durationS);
  EXPECT_TRUE(p.report->fleetHost.empty());
}

TEST(ParseUploadReportTest, OptionalFields) {
  ReportParse p = parseUploadReport(
      R"({"session_id":"s","key":"k","size":0,"etag":"e","content_type":"t","duration_s":12.5,)"
      R"("fleet_host":"http://h:1/"})");
  ASSERT_TRUE(p.report) << p.message;
  EXPECT_DOUBLE_EQ(*p.report->facts.durationS, 12.5);
  EXPECT_EQ(p.report->fleetHost, "http://h:1/");
  p = parseUploadReport(
      R"({"session_id":"s","key":"k","size":1,"etag":"e","content_type":"t","duration_s":null})");
  ASSERT_TRUE(p.report) << p.message;
  EXPECT_FALSE(p.report->facts.durationS);
}

TEST(ParseUploadReportTest, NamesTheBadField) {
  struct Case {
    const char* body;
    const char* field;
  };
  for (const Case& c : {
           Case{"[]", ""},
           Case{"not json", ""},
           Case{R"({"key":"k","size":1,"etag":"e","content_type":"t"})", "session_id"},
           Case{R"({"session_id":"","key":"k","size":1,"etag":"e","content_type":"t"})", "session_id"},
           Case{R"({"session_id":"a/b","key":"k","size":1,"etag":"e","content_type":"t"})", "session_id"},
           Case{R"({"session_id":"s","size":1,"etag":"e","content_type":"t"})", "key"},
           Case{R"({"session_id":"s","key":"/k","size":1,"etag":"e","content_type":"t"})", "key"},
           Case{R"({"session_id":"s","key":"k\u0001","size":1,"etag":"e","content_type":"t"})", "key"},
           Case{R"({"session_id":"s","key":"k","etag":"e","content_type":"t"})", "size"},
           Case{R"({"session_id":"s","key":"k","size":-1,"etag":"e","content_type":"t"})", "size"},
           Case{R"({"session_id":"s","key":"k","size":"1","etag":"e","content_type":"t"})", "size"},
           Case{R"({"session_id":"s","key":"k","size":1.5,"etag":"e","content_type":"t"})", "size"},
           Case{R"({"session_id":"s","key":"k","size":1,"content_type":"t"})", "etag"},
           Case{R"({"session_id":"s","key":"k","size":1,"etag":"e"})", "content_type"},
           Case{R"({"session_id":"s","key":"k","size":1,"etag":"e","content_type":"t","duration_s":-1})",
                "duration_s"},
           Case{R"({"session_id":"s","key":"k","size":1,"etag":"e","content_type":"t","duration_s":"1"})",
                "duration_s"},
           Case{R"({"session_id":"s","key":"k","size":1,"etag":"e","content_type":"t","fleet_host":5})",
                "fleet_host"},
       }) {
    ReportParse p = parseUploadReport(c.body);
    EXPECT_FALSE(p.report) << c.body;
    EXPECT_EQ(p.field, c.field) << c.body;
    EXPECT_FALSE(p.message.empty()) << c.body;
  }
}

TEST(FindFleetHostTest, IgnoresATrailingSlash) {
  std::vector<std::string> urls{"http://a:1", "http://b:2/"};
  EXPECT_EQ(findFleetHost(urls, "http://a:1/"), 0u);
  EXPECT_EQ(findFleetHost(urls, "http://b:2"), 1u);
  EXPECT_FALSE(findFleetHost(urls, "http://c:3"));
}

}  // namespace
}  // namespace recgw::handlers
