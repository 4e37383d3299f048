// DiagnosisReport's two forms: toText for a person, toJson for scripts.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "handlers/diagnose.h"

namespace recgw::handlers {
namespace {

std::vector<std::string> linesOf(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

DiagnosisReport refusedByStorage() {
  DiagnosisReport r;
  r.subject = "abcdef…#01234567";
  r.servable = false;
  r.verdict = "storage refused the request (SignatureDoesNotMatch): check s3.secret_key";
  r.steps = {
      {"cache", "warn", "Redis is not answering; lookups go to MongoDB", {{"redis", "unavailable: refused"}}},
      {"call", "ok", "call found by session_id", {{"matched_by", "session_id"}}},
      {"storage_settings", "ok", "complete", {}},
      {"storage",
       "fail",
       "storage answered HTTP 403",
       {{"http_status", "403"}, {"s3_error", "AccessDenied"}}},
      {"fleet:0", "skip", "not asked", {}},
  };
  return r;
}

TEST(DiagnosisReportTest, TextStartsWithTheVerdictAndTheStepToFix) {
  auto lines = linesOf(refusedByStorage().toText());
  ASSERT_GE(lines.size(), 4u);
  EXPECT_EQ(lines[0], "diagnosis of abcdef…#01234567: NOT servable");
  EXPECT_EQ(lines[1], "verdict: storage refused the request (SignatureDoesNotMatch): check s3.secret_key");
  EXPECT_EQ(lines[2], "first failing step: storage (storage answered HTTP 403)");
  EXPECT_EQ(lines[3], "");
}

TEST(DiagnosisReportTest, TextTableHasOneAlignedRowPerStepWithDetailsBelow) {
  auto lines = linesOf(refusedByStorage().toText());
  // "storage_settings" is the widest name: every column starts where its header does.
  const std::vector<std::string> expected = {
      "step              result  detail",
      "cache             warn    Redis is not answering; lookups go to MongoDB",
      "                            redis: unavailable: refused",
      "call              ok      call found by session_id",
      "                            matched_by: session_id",
      "storage_settings  ok      complete",
      "storage           FAIL    storage answered HTTP 403",
      "                            http_status: 403",
      "                            s3_error: AccessDenied",
      "fleet:0           skip    not asked",
  };
  ASSERT_EQ(lines.size(), 4 + expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(lines[4 + i], expected[i]) << "line " << 4 + i;
}

TEST(DiagnosisReportTest, ServableTextNamesNoStepToFix) {
  DiagnosisReport r;
  r.servable = true;
  r.verdict = "storage and fleet settings work";
  r.steps = {{"storage", "ok", "object reachable", {}}};
  auto lines = linesOf(r.toText());
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[0], "diagnosis of the configuration: servable");
  EXPECT_EQ(lines[1], "verdict: storage and fleet settings work");
  EXPECT_EQ(r.toText().find("first failing step"), std::string::npos);
}

TEST(DiagnosisReportTest, JsonIsOneLineWithEveryStep) {
  std::string json = refusedByStorage().toJson();
  EXPECT_EQ(json.find('\n'), std::string::npos);
  EXPECT_EQ(json.rfind("{\"subject\":\"abcdef…#01234567\",\"servable\":false,\"verdict\":", 0), 0u) << json;
  EXPECT_NE(json.find("{\"step\":\"storage\",\"status\":\"fail\",\"summary\":\"storage answered HTTP 403\","
                      "\"details\":{\"http_status\":\"403\",\"s3_error\":\"AccessDenied\"}}"),
            std::string::npos)
      << json;
}

}  // namespace
}  // namespace recgw::handlers
