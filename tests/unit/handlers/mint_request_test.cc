// POST /api/v1/admin/recordings/{session_id}/token: the optional expiry in its body.
#include <gtest/gtest.h>

#include "handlers/signed_urls.h"

namespace recgw::handlers {
namespace {

constexpr int64_t kNow = 1767225600000;  // 2026-01-01T00:00:00Z

TEST(MintRequestTest, EmptyBodyMintsALinkWithoutExpiry) {
  for (const char* body : {"", "  \n", "{}"}) {
    MintRequest r = parseMintRequest(body, kNow);
    EXPECT_EQ(r.error, "") << body;
    EXPECT_EQ(r.expiresAtMs, 0) << body;
  }
}

TEST(MintRequestTest, ExpiresInSeconds) {
  MintRequest r = parseMintRequest(R"({"expires_in_s": 90})", kNow);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.expiresAtMs, kNow + 90000);
}

TEST(MintRequestTest, ExpiresAtAnInstant) {
  MintRequest r = parseMintRequest(R"({"expires_at": "2026-01-02T00:00:00Z"})", kNow);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.expiresAtMs, kNow + 86400000);
  r = parseMintRequest(R"({"expires_at": "2026-01-01T02:00:00+02:00"})", kNow);
  EXPECT_NE(r.error, "") << "that instant is now, not in the future";
}

TEST(MintRequestTest, BadInputIsRefusedWithAReason) {
  for (const char* body :
       {"[]", "nope", R"({"expires_in_s": 0})", R"({"expires_in_s": -5})", R"({"expires_in_s": 1.5})",
        R"({"expires_in_s": "60"})", R"({"expires_in_s": 999999999999})", R"({"expires_at": "tomorrow"})",
        R"({"expires_at": 1767225600})", R"({"expires_at": "2025-12-31T23:59:59Z"})",
        R"({"expires_at": "2099-01-01T00:00:00Z"})", R"({"expires_in_s": 60, "expires_at": "2026-02-01"})"}) {
    MintRequest r = parseMintRequest(body, kNow);
    EXPECT_NE(r.error, "") << body;
    EXPECT_EQ(r.expiresAtMs, 0) << body;
  }
}

}  // namespace
}  // namespace recgw::handlers
