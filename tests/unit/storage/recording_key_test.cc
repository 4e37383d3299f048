#include "storage/recording_key.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace recgw::storage {
namespace {

struct Case {
  const char* key;
  const char* url;
  std::optional<std::string> want;  // nullopt: no key can be derived
  const char* how;
};

TEST(RecordingKeyTest, DerivationTable) {
  const Case cases[] = {
      // A non-empty recording_key wins, even over a URL.
      {"calls/2024/a.ogg", "https://h/other/b.ogg", "calls/2024/a.ogg", "recording_key"},
      {"k", "", "k", "recording_key"},
      // Otherwise the last path segment of the URL.
      {"", "https://h/a/b.ogg", "b.ogg", "recording_url"},
      {"", "http://minio:9000/recordings/x/y.ogg", "y.ogg", "recording_url"},
      {"", "https://h/b.ogg", "b.ogg", "recording_url"},
      // Query and fragment are dropped (presigned URLs).
      {"", "https://h/a/b.ogg?X-Amz-Signature=abc&X-Amz-Expires=60", "b.ogg", "recording_url"},
      {"", "https://h/a/b.ogg#t=10", "b.ogg", "recording_url"},
      {"", "https://h/a/b.ogg?x=/c.ogg", "b.ogg", "recording_url"},
      // Percent-decoded; '+' is not a space.
      {"", "https://h/a/a%20b.ogg", "a b.ogg", "recording_url"},
      {"", "https://h/a/c+d.ogg", "c+d.ogg", "recording_url"},
      {"", "https://h/a/%E2%82%AC.ogg", "\xe2\x82\xac.ogg", "recording_url"},
      // A trailing slash does not leave an empty segment.
      {"", "https://h/a/b/", "b", "recording_url"},
      // No path: nothing to take.
      {"", "https://host", std::nullopt, ""},
      {"", "https://host/", std::nullopt, ""},
      {"", "https://host?x=/a.ogg", std::nullopt, ""},
      {"", "https://host#/a.ogg", std::nullopt, ""},
      {"", "", std::nullopt, ""},
      // Bad percent-encoding.
      {"", "https://h/a/b%zz.ogg", std::nullopt, ""},
      {"", "https://h/a/b%2", std::nullopt, ""},
      {"", "https://h/a/b%", std::nullopt, ""},
  };
  for (const Case& c : cases) {
    auto got = deriveRecordingKey(c.key, c.url);
    SCOPED_TRACE(std::string("key='") + c.key + "' url='" + c.url + "'");
    if (!c.want) {
      EXPECT_FALSE(got.has_value()) << "got: " << got->key;
      continue;
    }
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->key, *c.want);
    EXPECT_EQ(got->how, c.how);
  }
}

}  // namespace
}  // namespace recgw::storage
