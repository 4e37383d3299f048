// The public route's download file name (public.download_name).
#include <gtest/gtest.h>

#include "handlers/http_semantics.h"
#include "handlers/public_link_modes.h"

namespace recgw::handlers {
namespace {

storage::CallRecord call(std::string session, std::string key) {
  storage::CallRecord r;
  r.outcome = storage::CallRecord::Outcome::kFound;
  r.sessionId = std::move(session);
  r.accountId = "acct-1";
  r.key = std::move(key);
  return r;
}

TEST(DownloadFileNameTest, DefaultIsSessionAndExtension) {
  EXPECT_EQ(downloadFileName("{session_id}.{ext}", call("sess-1", "calls/2024/a.b.ogg")), "sess-1.ogg");
  // No extension: no trailing dot.
  EXPECT_EQ(downloadFileName("{session_id}.{ext}", call("sess-1", "calls/raw")), "sess-1");
}

TEST(DownloadFileNameTest, PlaceholdersAndLiterals) {
  EXPECT_EQ(downloadFileName("Aufnahme {account_id} – {key}", call("s", "x/y/z.mp3")),
            "Aufnahme acct-1 – z.mp3");
  EXPECT_EQ(downloadFileName("{unknown}-{session_id", call("s", "k")), "{unknown}-{session_id");
}

TEST(DownloadFileNameTest, ValuesCannotBreakOutOfTheName) {
  EXPECT_EQ(downloadFileName("{session_id}.{ext}", call("../a/b\\c\r\n", "k.ogg")), ".._a_b_c__.ogg");
  EXPECT_EQ(downloadFileName("{session_id}", call("", "k")), "recording");
}

TEST(DownloadFileNameTest, HeaderIsRfc6266WithFilenameStar) {
  EXPECT_EQ(contentDisposition(downloadFileName("Größe {session_id}.{ext}", call("s1", "a.ogg")), true),
            "attachment; filename=\"Gr__e s1.ogg\"; filename*=UTF-8''Gr%C3%B6%C3%9Fe%20s1.ogg");
}

TEST(RedirectTtlTest, NeverOutlivesTheLink) {
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'000'000));
  const int64_t nowMs = 1'000'000'000;
  EXPECT_EQ(redirectTtlFor(300, 0, now), 300);                  // no expiry: as configured
  EXPECT_EQ(redirectTtlFor(300, nowMs + 3'600'000, now), 300);  // expires later than the URL
  EXPECT_EQ(redirectTtlFor(300, nowMs + 60'500, now), 60);      // capped, rounded down
  EXPECT_EQ(redirectTtlFor(300, nowMs + 200, now), 1);          // at least a second
}

}  // namespace
}  // namespace recgw::handlers
