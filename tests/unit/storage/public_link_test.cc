#include "storage/public_link.h"

#include <gtest/gtest.h>

namespace recgw::storage {
namespace {

TEST(PublicLinkTest, BuildPublicRecordingUrl) {
  EXPECT_EQ(buildPublicRecordingUrl("rec.example.com", "tok"),
            "https://rec.example.com/api/v1/public/recordings/tok");
  EXPECT_EQ(buildPublicRecordingUrl("rec.example.com/", "tok"),
            "https://rec.example.com/api/v1/public/recordings/tok");
  EXPECT_EQ(buildPublicRecordingUrl("https://rec.example.com", "tok"),
            "https://rec.example.com/api/v1/public/recordings/tok");
  EXPECT_EQ(buildPublicRecordingUrl("http://localhost:8080/", "tok"),
            "http://localhost:8080/api/v1/public/recordings/tok");
  EXPECT_EQ(buildPublicRecordingUrl("https://example.com/rec/", "tok"),
            "https://example.com/rec/api/v1/public/recordings/tok");
  EXPECT_EQ(buildPublicRecordingUrl("rec.example.com", "Ab-_09"),
            "https://rec.example.com/api/v1/public/recordings/Ab-_09");
  EXPECT_EQ(buildPublicRecordingUrl("rec.example.com", "a/b?c"),
            "https://rec.example.com/api/v1/public/recordings/a%2Fb%3Fc");
}

}  // namespace
}  // namespace recgw::storage
