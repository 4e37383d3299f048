#include "storage/public_link.h"

#include <gtest/gtest.h>

namespace recgw::storage {
namespace {

TEST(PublicLinkTest, BuildPublicRecordingUrl) {
  struct Case {
    const char* host;
    const char* token;
    const char* want;
  };
  const Case cases[] = {
      {"rec.example.com", "tok", "https://rec.example.com/api/v1/public/recordings/tok"},
      {"rec.example.com/", "tok", "https://rec.example.com/api/v1/public/recordings/tok"},
      {" rec.example.com \n", "tok", "https://rec.example.com/api/v1/public/recordings/tok"},
      {"https://rec.example.com", "tok", "https://rec.example.com/api/v1/public/recordings/tok"},
      {"http://localhost:8080/", "tok", "http://localhost:8080/api/v1/public/recordings/tok"},
      {"https://example.com/rec/", "tok", "https://example.com/rec/api/v1/public/recordings/tok"},
      {"rec.example.com", "Ab-_09", "https://rec.example.com/api/v1/public/recordings/Ab-_09"},
      {"rec.example.com", "a/b?c", "https://rec.example.com/api/v1/public/recordings/a%2Fb%3Fc"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(buildPublicRecordingUrl(c.host, c.token), c.want)
        << "host: '" << c.host << "' token: " << c.token;
  }
}

}  // namespace
}  // namespace recgw::storage
