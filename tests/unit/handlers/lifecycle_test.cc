#include "handlers/lifecycle.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <limits>
#include <string>

namespace recgw::handlers {
namespace {

using namespace std::chrono_literals;
using storage::RecordingStatus;

TEST(PagingTest, Defaults) {
  Paging p = parsePaging("");
  EXPECT_EQ(p.limit, 20);
  EXPECT_EQ(p.offset, 0);
  EXPECT_TRUE(p.error.empty());
  p = parsePaging("other=1&x");
  EXPECT_TRUE(p.error.empty());
  EXPECT_EQ(p.limit, 20);
}

TEST(PagingTest, ValuesAndCap) {
  Paging p = parsePaging("offset=40&limit=5");
  EXPECT_EQ(p.limit, 5);
  EXPECT_EQ(p.offset, 40);
  EXPECT_EQ(parsePaging("limit=100").limit, 100);
  EXPECT_EQ(parsePaging("limit=101").limit, 100);
  EXPECT_EQ(parsePaging("limit=999999").limit, 100);
  EXPECT_EQ(parsePaging("limit=%31%30").limit, 10);      // percent-encoded digits
  EXPECT_EQ(parsePaging("limit=3&limit=abc").limit, 3);  // the first one counts
}

TEST(PagingTest, BadValuesAreErrors) {
  for (const char* q :
       {"limit=0", "limit=-1", "limit=", "limit", "limit=abc", "limit=1.5", "limit=+3", "limit= 3",
        "limit=99999999999999999999", "offset=-1", "offset=", "offset=x", "offset=1e3", "limit=%zz"}) {
    EXPECT_FALSE(parsePaging(q).error.empty()) << q;
  }
  EXPECT_NE(parsePaging("limit=0").error.find("limit"), std::string::npos);
  EXPECT_NE(parsePaging("offset=-1").error.find("offset"), std::string::npos);
}

JwtClaims claims(std::string account, bool admin) {
  JwtClaims c;
  c.subject = "s";
  c.accountId = std::move(account);
  if (admin) {
    c.roles = {"admin"};
    c.platformAdmin = true;
  }
  return c;
}

TEST(ChooseTenantTest, TheTokensAccount) {
  TenantChoice t = chooseTenant(claims("acme", false), nullptr);
  EXPECT_EQ(t.status, 0);
  EXPECT_EQ(t.tenant, "acme");
  t = chooseTenant(claims("acme", false), "acme");
  EXPECT_EQ(t.tenant, "acme");
  t = chooseTenant(claims("acme", false), "");
  EXPECT_EQ(t.tenant, "acme");
}

TEST(ChooseTenantTest, OnlyAdminsActForAnotherTenant) {
  TenantChoice t = chooseTenant(claims("acme", false), "globex");
  EXPECT_EQ(t.status, 403);
  t = chooseTenant(claims("acme", true), "globex");
  EXPECT_EQ(t.status, 0);
  EXPECT_EQ(t.tenant, "globex");
  t = chooseTenant(claims("", true), "globex");
  EXPECT_EQ(t.tenant, "globex");
}

// An "admin" role that is not jwt.platform_admin_role is admin of its own account only.
TEST(ChooseTenantTest, AnAccountAdminStaysInItsAccount) {
  JwtClaims accountAdmin = claims("acme", false);
  accountAdmin.roles = {"admin"};
  EXPECT_EQ(chooseTenant(accountAdmin, "globex").status, 403);
  EXPECT_EQ(chooseTenant(accountAdmin, nullptr).tenant, "acme");
  EXPECT_EQ(chooseTenant(accountAdmin, "acme").tenant, "acme");
  accountAdmin.accountId.clear();
  EXPECT_EQ(chooseTenant(accountAdmin, "globex").status, 403);
  EXPECT_EQ(chooseTenant(accountAdmin, nullptr).status, 403);
}

TEST(ChooseTenantTest, NoAccountAtAll) {
  EXPECT_EQ(chooseTenant(claims("", true), nullptr).status, 400);
  EXPECT_EQ(chooseTenant(claims("", false), nullptr).status, 403);
  EXPECT_EQ(chooseTenant(claims("", false), "acme").status, 403);
}

TEST(FormatInstantTest, MillisecondsUtc) {
  auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'123));
  EXPECT_EQ(formatInstant(t), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(formatInstant(std::chrono::system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(formatInstant(std::chrono::system_clock::time_point(-1ms)), "1969-12-31T23:59:59.999Z");
}

TEST(WholeSecondsTest, NearestWholeSecondHalvesAwayFromZero) {
  EXPECT_EQ(wholeSeconds(1.21536), 1);
  EXPECT_EQ(wholeSeconds(1799.5), 1800);
  EXPECT_EQ(wholeSeconds(1799.49), 1799);
  EXPECT_EQ(wholeSeconds(1800.0), 1800);
  EXPECT_EQ(wholeSeconds(0.4), 0);
  EXPECT_EQ(wholeSeconds(0.0), 0);
  EXPECT_EQ(wholeSeconds(42.5), 43);
}

TEST(WholeSecondsTest, UnknownOrNonsenseIsNull) {
  EXPECT_EQ(wholeSeconds(std::nullopt), std::nullopt);
  EXPECT_EQ(wholeSeconds(-1.0), std::nullopt);
  EXPECT_EQ(wholeSeconds(std::numeric_limits<double>::quiet_NaN()), std::nullopt);
  EXPECT_EQ(wholeSeconds(std::numeric_limits<double>::infinity()), std::nullopt);
  EXPECT_EQ(wholeSeconds(1e300), std::nullopt);  // llround would be undefined
  EXPECT_EQ(wholeSeconds(9007199254740991.0), 9007199254740991);
}

simdjson::dom::element parse(simdjson::dom::parser& parser, const std::string& json) {
  simdjson::dom::element el;
  EXPECT_EQ(parser.parse(json).get(el), simdjson::SUCCESS) << json;
  return el;
}

TEST(WriteRecordingTest, NullsForWhatIsNotKnownYet) {
  storage::Recording r;
  r.id = "rec_1";
  r.tenantId = "t";
  r.roomId = "room \"1\"";
  r.status = RecordingStatus::kRecording;
  r.startedAt = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  reactor::JsonWriter w;
  writeRecording(w, r);
  simdjson::dom::parser parser;
  auto doc = parse(parser, w.str());
  EXPECT_EQ(std::string_view(doc["id"]), "rec_1");
  EXPECT_EQ(std::string_view(doc["room_id"]), "room \"1\"");
  EXPECT_EQ(std::string_view(doc["status"]), "recording");
  EXPECT_EQ(std::string_view(doc["source"]), "api");
  EXPECT_EQ(std::string_view(doc["started_at"]), "2023-11-14T22:13:20.000Z");
  for (const char* k : {"stopped_at", "duration_seconds", "size_bytes", "storage", "provider_recording_id",
                        "archived_at", "deleted_at"}) {
    EXPECT_TRUE(doc[k].is_null()) << k;
  }
  EXPECT_EQ(doc["room"].error(), simdjson::NO_SUCH_FIELD);
  EXPECT_EQ(doc["failure_reason"].error(), simdjson::NO_SUCH_FIELD);
}

TEST(WriteRecordingTest, StorageFailureAndRoom) {
  storage::Recording r;
  r.id = "rec_2";
  r.status = RecordingStatus::kFailed;
  r.failureReason = "encoder crashed";
  r.sizeBytes = 10;
  r.durationSeconds = 1.5;
  r.storage = storage::StoredObject{"", "hot", "a/b.ogg", ""};
  r.providerRecordingId = "p9";
  reactor::JsonWriter w;
  writeRecording(w, r, std::optional<std::optional<storage::Room>>(storage::Room{"room-1", "t", "Lobby"}));
  simdjson::dom::parser parser;
  auto doc = parse(parser, w.str());
  EXPECT_EQ(std::string_view(doc["failure_reason"]), "encoder crashed");
  EXPECT_EQ(int64_t(doc["size_bytes"]), 10);
  // whole seconds, written as a JSON integer (1.5 rounds away from zero)
  ASSERT_TRUE(doc["duration_seconds"].is_int64()) << w.str();
  EXPECT_EQ(int64_t(doc["duration_seconds"]), 2);
  EXPECT_EQ(std::string_view(doc["storage"]["provider"]), "s3");
  EXPECT_EQ(std::string_view(doc["storage"]["key"]), "a/b.ogg");
  EXPECT_TRUE(doc["storage"]["storage_class"].is_null());
  EXPECT_EQ(std::string_view(doc["provider_recording_id"]), "p9");
  EXPECT_EQ(std::string_view(doc["room"]["name"]), "Lobby");

  reactor::JsonWriter w2;
  writeRecording(w2, r, std::optional<std::optional<storage::Room>>(std::optional<storage::Room>()));
  simdjson::dom::parser parser2;
  EXPECT_TRUE(parse(parser2, w2.str())["room"].is_null());  // the room is gone: null, not absent
}

}  // namespace
}  // namespace recgw::handlers
