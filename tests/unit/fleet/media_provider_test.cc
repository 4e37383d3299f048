#include "fleet/media_provider.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace recgw::fleet {
namespace {

using namespace std::chrono_literals;
using K = ProviderError::Kind;

TEST(JoinUrlTest, EncodesEachSegment) {
  EXPECT_EQ(MediaProvider::joinUrl("http://p:8/v1/", {"rooms", "a b/c", "recordings"}),
            "http://p:8/v1/rooms/a%20b%2Fc/recordings");
  EXPECT_EQ(MediaProvider::joinUrl("https://p", {"recordings", "x"}), "https://p/recordings/x");
}

TEST(ParseRecordingTest, EveryField) {
  ProviderRecording r;
  std::string error;
  ASSERT_TRUE(MediaProvider::parseRecording(
      R"({"id":"p1","room_id":"r1","status":"READY","started_at":"2024-05-01T10:00:00Z",
          "stopped_at":"2024-05-01T10:01:30.500Z","duration_seconds":90.5,"size_bytes":123456,
          "storage":{"provider":"s3","bucket":"hot","key":"a/b.webm"},"error":null,"extra":[1,2]})",
      r, error))
      << error;
  EXPECT_EQ(r.id, "p1");
  EXPECT_EQ(r.roomId, "r1");
  EXPECT_EQ(r.status, "ready");  // lower-cased
  ASSERT_TRUE(r.startedAt && r.stoppedAt);
  EXPECT_EQ(*r.stoppedAt - *r.startedAt, 90500ms);
  EXPECT_EQ(r.durationSeconds, 90.5);
  EXPECT_EQ(r.sizeBytes, 123456);
  EXPECT_EQ(r.storageProvider, "s3");
  EXPECT_EQ(r.bucket, "hot");
  EXPECT_EQ(r.key, "a/b.webm");
  EXPECT_EQ(r.error, "");
}

TEST(ParseRecordingTest, NullsAndNumbersAreTolerated) {
  ProviderRecording r;
  std::string error;
  ASSERT_TRUE(MediaProvider::parseRecording(
      R"({"id":42,"status":"recording","started_at":null,"duration_seconds":null,"size_bytes":7,"storage":null})",
      r, error))
      << error;
  EXPECT_EQ(r.id, "42");
  EXPECT_FALSE(r.startedAt);
  EXPECT_FALSE(r.durationSeconds);
  EXPECT_EQ(r.sizeBytes, 7);
  EXPECT_EQ(r.key, "");
}

TEST(ParseRecordingTest, Rejects) {
  ProviderRecording r;
  std::string error;
  EXPECT_FALSE(MediaProvider::parseRecording(R"({"status":"ready"})", r, error));
  EXPECT_FALSE(MediaProvider::parseRecording(R"({"id":""})", r, error));
  EXPECT_FALSE(MediaProvider::parseRecording("[]", r, error));
  EXPECT_FALSE(MediaProvider::parseRecording("{nope", r, error));
  EXPECT_FALSE(error.empty());
}

TEST(ParseRecordingListTest, ThreeShapes) {
  for (const char* json : {R"({"recordings":[{"id":"a"},{"id":"b"}]})", R"({"data":[{"id":"a"},{"id":"b"}]})",
                           R"([{"id":"a"},{"id":"b"}])"}) {
    std::vector<ProviderRecording> list;
    std::string error;
    ASSERT_TRUE(MediaProvider::parseRecordingList(json, list, error)) << json << ": " << error;
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[1].id, "b");
  }
  std::vector<ProviderRecording> list;
  std::string error;
  EXPECT_TRUE(MediaProvider::parseRecordingList(R"({"recordings":[]})", list, error));
  EXPECT_TRUE(list.empty());
  EXPECT_FALSE(MediaProvider::parseRecordingList(R"({"items":[]})", list, error));
  EXPECT_FALSE(MediaProvider::parseRecordingList(R"({"recordings":[1]})", list, error));
  EXPECT_FALSE(MediaProvider::parseRecordingList(R"({"recordings":[{"id":"a"},{"x":1}]})", list, error));
  EXPECT_FALSE(MediaProvider::parseRecordingList("\"x\"", list, error));
}

TEST(TimeoutWordingTest, CurlAndCurlMulti) {
  EXPECT_TRUE(
      MediaProvider::looksLikeTimeout("Timeout was reached: Connection timed out after 2001 milliseconds"));
  EXPECT_TRUE(MediaProvider::looksLikeTimeout("no response headers within the first-byte timeout"));
  EXPECT_TRUE(MediaProvider::looksLikeTimeout("Operation too slow. Less than 1 bytes/sec transferred"));
  EXPECT_FALSE(MediaProvider::looksLikeTimeout("Couldn't connect to server: Failed to connect to 127.0.0.1"));
}

TEST(BackoffTest, DoublesWithBoundedJitter) {
  EXPECT_EQ(MediaProvider::backoffDelay(200ms, 0, 0.5), 200ms);
  EXPECT_EQ(MediaProvider::backoffDelay(200ms, 1, 0.5), 400ms);
  EXPECT_EQ(MediaProvider::backoffDelay(200ms, 2, 0.5), 800ms);
  EXPECT_EQ(MediaProvider::backoffDelay(200ms, 1, 0.0), 300ms);
  EXPECT_EQ(MediaProvider::backoffDelay(200ms, 1, 1.0), 500ms);
  EXPECT_EQ(MediaProvider::backoffDelay(200ms, 1, 7.0), 500ms);  // clamped
  EXPECT_EQ(MediaProvider::backoffDelay(0ms, 3, 0.5), 0ms);
}

TEST(JudgeAttemptTest, RetriesServerErrorsAndRefusedConnections) {
  auto v = MediaProvider::judgeAttempt(503, "", 1, 2);
  EXPECT_TRUE(v.retry);
  v = MediaProvider::judgeAttempt(503, "", 3, 2);
  EXPECT_FALSE(v.retry);
  EXPECT_EQ(v.error.kind, K::kBadGateway);
  EXPECT_EQ(v.error.clientStatus(), 502);
  EXPECT_NE(v.error.reason.find("HTTP 503"), std::string::npos);
  EXPECT_NE(v.error.reason.find("3 attempts"), std::string::npos);
  v = MediaProvider::judgeAttempt(0, "Couldn't connect to server", 1, 2);
  EXPECT_TRUE(v.retry);
  EXPECT_EQ(v.error.kind, K::kBadGateway);
}

TEST(JudgeAttemptTest, TimeoutsAndClientErrorsAreFinal) {
  auto v = MediaProvider::judgeAttempt(0, "Timeout was reached", 1, 2);
  EXPECT_FALSE(v.retry);
  EXPECT_EQ(v.error.kind, K::kTimeout);
  EXPECT_EQ(v.error.clientStatus(), 504);
  EXPECT_EQ(v.error.clientCode(), "provider_timeout");
  v = MediaProvider::judgeAttempt(404, "", 1, 2);
  EXPECT_FALSE(v.retry);
  EXPECT_EQ(v.error.kind, K::kNotFound);
  v = MediaProvider::judgeAttempt(401, "", 1, 2);
  EXPECT_FALSE(v.retry);
  EXPECT_EQ(v.error.kind, K::kRejected);
  EXPECT_EQ(v.error.clientStatus(), 502);
  EXPECT_EQ(v.error.clientCode(), "provider_error");
  v = MediaProvider::judgeAttempt(200, "", 2, 2);
  EXPECT_TRUE(v.error.ok());
  EXPECT_FALSE(v.retry);
  v = MediaProvider::judgeAttempt(202, "", 1, 0);
  EXPECT_TRUE(v.error.ok());
}

TEST(ProviderErrorTest, ClientStatuses) {
  EXPECT_EQ((ProviderError{K::kNotConfigured, 0, 0, ""}).clientStatus(), 503);
  EXPECT_EQ((ProviderError{K::kNotConfigured, 0, 0, ""}).clientCode(), "provider_not_configured");
  EXPECT_EQ((ProviderError{K::kNotFound, 404, 1, ""}).clientStatus(), 404);
  EXPECT_EQ((ProviderError{K::kBadGateway, 500, 3, ""}).clientStatus(), 502);
  EXPECT_EQ((ProviderError{K::kTimeout, 0, 1, ""}).clientStatus(), 504);
}

TEST(ProviderErrorTest, ClientMessagesCarryNothingOfTheReason) {
  // Audit item 10: "the media provider is unreachable: … Failed to connect to 127.0.0.1 port 1".
  auto v = MediaProvider::judgeAttempt(0, "Failed to connect to 127.0.0.1 port 1: Couldn't connect", 3, 2);
  ASSERT_FALSE(v.retry);
  EXPECT_NE(v.error.reason.find("127.0.0.1 port 1"), std::string::npos);  // the log keeps it
  EXPECT_EQ(v.error.clientCode(), "provider_error");
  EXPECT_EQ(v.error.clientMessage().find("127.0.0.1"), std::string_view::npos);
  EXPECT_EQ(v.error.clientMessage(), (ProviderError{K::kBadGateway, 500, 3, "HTTP 500"}).clientMessage());
  for (K kind : {K::kNotConfigured, K::kNotFound, K::kRejected, K::kBadGateway, K::kTimeout}) {
    ProviderError e{kind, 0, 1, "secret detail"};
    EXPECT_FALSE(e.clientMessage().empty());
    EXPECT_EQ(e.clientMessage().find("secret detail"), std::string_view::npos);
  }
}

}  // namespace
}  // namespace recgw::fleet
