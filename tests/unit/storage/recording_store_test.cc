#include "storage/recording_store.h"

#include <gtest/gtest.h>
#include <mongoc/mongoc.h>

#include <set>
#include <string>
#include <vector>

namespace recgw::storage {
namespace {

using S = RecordingStatus;
using namespace std::chrono_literals;

const TimePoint kT0 = TimePoint(std::chrono::milliseconds(1'700'000'000'123));

TEST(RecordingStatusTest, NamesRoundTrip) {
  for (S s : {S::kRecording, S::kProcessing, S::kReady, S::kArchived, S::kFailed}) {
    EXPECT_EQ(parseStatus(statusName(s)), s) << statusName(s);
  }
  EXPECT_EQ(statusName(S::kProcessing), "processing");
  EXPECT_FALSE(parseStatus("READY"));
  EXPECT_FALSE(parseStatus(""));
  EXPECT_FALSE(parseStatus("deleted"));
}

TEST(RecordingStatusTest, OnlyTheDocumentedTransitions) {
  const S all[] = {S::kRecording, S::kProcessing, S::kReady, S::kArchived, S::kFailed};
  std::set<std::pair<S, S>> allowed = {{S::kRecording, S::kProcessing},
                                       {S::kProcessing, S::kReady},
                                       {S::kReady, S::kArchived},
                                       {S::kRecording, S::kFailed},
                                       {S::kProcessing, S::kFailed}};
  for (S from : all) {
    for (S to : all) {
      EXPECT_EQ(canTransition(from, to), allowed.count({from, to}) == 1)
          << statusName(from) << " -> " << statusName(to);
    }
  }
}

TEST(StepsTowardTest, WalksTheStateMachineInOrder) {
  using V = std::vector<S>;
  EXPECT_EQ(stepsToward(S::kRecording, S::kProcessing, false), V{S::kProcessing});
  EXPECT_EQ(stepsToward(S::kRecording, S::kReady, true), (V{S::kProcessing, S::kReady}));
  EXPECT_EQ(stepsToward(S::kProcessing, S::kReady, true), V{S::kReady});
  EXPECT_EQ(stepsToward(S::kRecording, S::kFailed, false), V{S::kFailed});
  EXPECT_EQ(stepsToward(S::kProcessing, S::kFailed, true), V{S::kFailed});
  // The provider's "archived" is a ready object as far as we are concerned.
  EXPECT_EQ(stepsToward(S::kProcessing, S::kArchived, true), V{S::kReady});
}

TEST(StepsTowardTest, NothingToDo) {
  EXPECT_TRUE(stepsToward(S::kRecording, S::kRecording, false).empty());
  EXPECT_TRUE(stepsToward(S::kProcessing, S::kProcessing, true).empty());
  EXPECT_TRUE(stepsToward(S::kProcessing, std::nullopt, true).empty());
  // Ready without an object to point at is not ready yet.
  EXPECT_TRUE(stepsToward(S::kProcessing, S::kReady, false).empty());
  EXPECT_EQ(stepsToward(S::kRecording, S::kReady, false), std::vector<S>{S::kProcessing});
  // Ours from here on: the provider never moves these.
  for (S current : {S::kReady, S::kArchived, S::kFailed}) {
    EXPECT_TRUE(stepsToward(current, S::kFailed, true).empty());
    EXPECT_TRUE(stepsToward(current, S::kReady, true).empty());
  }
}

TEST(RecordingIdTest, PrefixedRandomHex) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    std::string id = newRecordingId();
    ASSERT_EQ(id.size(), 4u + 24u) << id;
    EXPECT_EQ(id.rfind("rec_", 0), 0u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef", 4), std::string::npos) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(ActiveRoomKeyTest, NoTwoTenantRoomPairsCollide) {
  EXPECT_NE(activeRoomKey("a:b", "c"), activeRoomKey("a", "b:c"));
  EXPECT_NE(activeRoomKey("ab", "c"), activeRoomKey("a", "bc"));
  EXPECT_EQ(activeRoomKey("t", "r"), activeRoomKey("t", "r"));
  EXPECT_EQ(activeRoomKey("tenant", "room"), "6:tenant:room");
}

TEST(ProviderRoomIdTest, UniqueAcrossTenants) {
  // The audit's repro: two tenants, one room id. The provider must see two rooms.
  EXPECT_NE(providerRoomId("tA", "standup"), providerRoomId("tB", "standup"));
  EXPECT_NE(providerRoomId("a:b", "c"), providerRoomId("a", "b:c"));
  EXPECT_EQ(providerRoomId("tenant-b", "standup"), "8:tenant-b:standup");
}

TEST(ProviderRoomBindingTest, OnlyTheScopedNameIsThisRoom) {
  using B = ProviderRoomBinding;
  EXPECT_EQ(bindProviderRoom("2:tA:standup", "tA", "standup"), B::kThisRoom);
  EXPECT_EQ(bindProviderRoom("", "tA", "standup"), B::kUnnamed);
  EXPECT_EQ(bindProviderRoom("standup", "tA", "standup"), B::kBareRoomId);
  EXPECT_EQ(bindProviderRoom("2:tB:standup", "tA", "standup"), B::kOtherRoom);
  EXPECT_EQ(bindProviderRoom("2:tA:other", "tA", "standup"), B::kOtherRoom);
  EXPECT_EQ(bindProviderRoom("other", "tA", "standup"), B::kOtherRoom);
}

TEST(ProviderRoomBindingTest, BareRoomIdOnlyWhileNoOtherTenantHasIt) {
  using B = ProviderRoomBinding;
  for (bool shared : {false, true}) {
    EXPECT_TRUE(linkedProviderRoomAccepted(B::kThisRoom, shared));
    EXPECT_TRUE(linkedProviderRoomAccepted(B::kUnnamed, shared));
    EXPECT_FALSE(linkedProviderRoomAccepted(B::kOtherRoom, shared));
  }
  EXPECT_TRUE(linkedProviderRoomAccepted(B::kBareRoomId, false));
  EXPECT_FALSE(linkedProviderRoomAccepted(B::kBareRoomId, true));
}

Recording local(std::string id, S status, std::optional<TimePoint> startedAt, std::string room = "r1",
                std::string providerId = "") {
  Recording r;
  r.id = std::move(id);
  r.roomId = std::move(room);
  r.status = status;
  r.startedAt = startedAt;
  r.providerRecordingId = std::move(providerId);
  return r;
}

ProviderSnapshot provider(std::optional<TimePoint> startedAt, std::string room = "r1") {
  ProviderSnapshot p;
  p.providerId = "p1";
  p.roomId = std::move(room);
  p.startedAt = startedAt;
  return p;
}

TEST(MatchLocalRecordingTest, PicksTheClosestStartWithinTheWindow) {
  std::vector<Recording> locals = {local("far", S::kProcessing, kT0 - 100s),
                                   local("near", S::kProcessing, kT0 + 3s),
                                   local("mid", S::kRecording, kT0 - 10s)};
  auto m = matchLocalRecording(provider(kT0), locals, 120s);
  ASSERT_TRUE(m);
  EXPECT_EQ(locals[*m].id, "near");
  EXPECT_FALSE(matchLocalRecording(provider(kT0 + 1h), locals, 120s));
}

TEST(MatchLocalRecordingTest, TieGoesToTheEarlierStart) {
  std::vector<Recording> locals = {local("after", S::kProcessing, kT0 + 5s),
                                   local("before", S::kProcessing, kT0 - 5s)};
  auto m = matchLocalRecording(provider(kT0), locals, 60s);
  ASSERT_TRUE(m);
  EXPECT_EQ(locals[*m].id, "before");
}

TEST(MatchLocalRecordingTest, SkipsWhatCannotBeTheOne) {
  std::vector<Recording> locals = {
      local("linked", S::kProcessing, kT0, "r1", "other-provider-id"),
      local("ready", S::kReady, kT0),
      local("failed", S::kFailed, kT0),
      local("other-room", S::kProcessing, kT0, "r2"),
      local("no-start", S::kProcessing, std::nullopt),
  };
  EXPECT_FALSE(matchLocalRecording(provider(kT0), locals, 600s));
  // Without a provider start time nothing can be matched.
  std::vector<Recording> one = {local("ok", S::kProcessing, kT0)};
  EXPECT_FALSE(matchLocalRecording(provider(std::nullopt), one, 600s));
  EXPECT_TRUE(matchLocalRecording(provider(kT0 + 600s), one, 600s));
  EXPECT_FALSE(matchLocalRecording(provider(kT0 + 601s), one, 600s));
}

TEST(RecordingBsonTest, RoundTripsEveryField) {
  Recording r;
  r.id = "rec_0123";
  r.tenantId = "tenant-a";
  r.roomId = "room-1";
  r.status = S::kArchived;
  r.providerRecordingId = "prov-9";
  r.source = "provider";
  r.failureReason = "";
  r.startedAt = kT0;
  r.stoppedAt = kT0 + 90s;
  r.readyAt = kT0 + 120s;
  r.archivedAt = kT0 + 1h;
  r.recoverRequestedAt = kT0 + 100s;
  r.createdAt = kT0;
  r.updatedAt = kT0 + 1h;
  r.durationSeconds = 90.25;
  r.sizeBytes = 5'000'000'000LL;
  r.storage = StoredObject{"s3", "archive", "a/b c.ogg", "GLACIER_IR"};
  bson_t* doc = bson_new();
  appendRecording(doc, r);
  Recording back = recordingFromBson(doc);
  bson_destroy(doc);
  EXPECT_EQ(back.id, r.id);
  EXPECT_EQ(back.tenantId, r.tenantId);
  EXPECT_EQ(back.roomId, r.roomId);
  EXPECT_EQ(back.status, r.status);
  EXPECT_EQ(back.providerRecordingId, r.providerRecordingId);
  EXPECT_EQ(back.source, r.source);
  EXPECT_EQ(back.startedAt, r.startedAt);
  EXPECT_EQ(back.stoppedAt, r.stoppedAt);
  EXPECT_EQ(back.readyAt, r.readyAt);
  EXPECT_EQ(back.archivedAt, r.archivedAt);
  EXPECT_EQ(back.recoverRequestedAt, r.recoverRequestedAt);
  EXPECT_FALSE(back.deletedAt);
  EXPECT_EQ(back.createdAt, r.createdAt);
  EXPECT_EQ(back.updatedAt, r.updatedAt);
  EXPECT_EQ(back.durationSeconds, r.durationSeconds);
  EXPECT_EQ(back.sizeBytes, r.sizeBytes);
  ASSERT_TRUE(back.storage);
  EXPECT_EQ(back.storage->bucket, "archive");
  EXPECT_EQ(back.storage->key, "a/b c.ogg");
  EXPECT_EQ(back.storage->storageClass, "GLACIER_IR");
}

// The streamed archive's journal: what a resumed run relies on comes back as written, parts
// in number order; a malformed part (no number, an MD5 of the wrong length) is dropped, so
// it is re-uploaded rather than trusted.
TEST(ArchiveJournalBsonTest, RoundTripsAndDropsMalformedParts) {
  ArchiveUpload u;
  u.recordingId = "rec_1";
  u.tenantId = "tenant-a";
  u.owner = "owner-1";
  u.target = "https://s3.eu-west-2.amazonaws.com glacier";
  u.key = "rooms/a b.webm";
  u.uploadId = "upload-xyz";
  u.sourceEtag = "0cc175b9c0f1b6a831c399e269772661";
  u.size = 6'000'000'000ULL;
  u.partBytes = 16ULL << 20;
  u.heartbeatAt = kT0 + 5s;
  u.parts = {{2, 16ULL << 20, std::string(32, 'b')},
             {1, 16ULL << 20, std::string(32, 'a')},
             {3, 1, "short"},
             {0, 1, std::string(32, 'c')}};
  bson_t* doc = bson_new();
  appendArchiveUpload(doc, u);
  ArchiveUpload back = archiveUploadFromBson(doc);
  bson_destroy(doc);
  EXPECT_EQ(back.recordingId, u.recordingId);
  EXPECT_EQ(back.tenantId, u.tenantId);
  EXPECT_EQ(back.owner, u.owner);
  EXPECT_EQ(back.target, u.target);
  EXPECT_EQ(back.key, u.key);
  EXPECT_EQ(back.uploadId, u.uploadId);
  EXPECT_EQ(back.sourceEtag, u.sourceEtag);
  EXPECT_EQ(back.size, u.size);
  EXPECT_EQ(back.partBytes, u.partBytes);
  EXPECT_EQ(back.heartbeatAt, u.heartbeatAt);
  ASSERT_EQ(back.parts.size(), 2u);
  EXPECT_EQ(back.parts[0].number, 1);
  EXPECT_EQ(back.parts[0].md5Hex, std::string(32, 'a'));
  EXPECT_EQ(back.parts[1].number, 2);
  EXPECT_EQ(back.parts[1].size, 16ULL << 20);
  EXPECT_EQ(archiveUploadJournalId("rec_1"), "rec_1:archive_upload");
}

TEST(RecordingBsonTest, AbsentProviderIdIsNotWritten) {
  // The unique sparse index must skip recordings without a provider id.
  Recording r;
  r.id = "rec_1";
  bson_t* doc = bson_new();
  appendRecording(doc, r);
  EXPECT_FALSE(bson_has_field(doc, "provider_recording_id"));
  EXPECT_FALSE(bson_has_field(doc, "active_room"));
  EXPECT_FALSE(bson_has_field(doc, "deleted_at"));
  EXPECT_TRUE(bson_has_field(doc, "id"));
  bson_destroy(doc);
}

TEST(RecordingBsonTest, ToleratesOtherWritersShapes) {
  // Written by someone else: ObjectId _id with an `id` field, int32 numbers, unknown status.
  bson_t* doc = BCON_NEW("_id", BCON_INT32(7), "id", BCON_UTF8("rec_x"), "status", BCON_UTF8("weird"),
                         "size_bytes", BCON_INT32(1234), "duration_seconds", BCON_INT32(5), "storage", "{",
                         "bucket", BCON_UTF8("b"), "}");
  Recording r = recordingFromBson(doc);
  bson_destroy(doc);
  EXPECT_EQ(r.id, "rec_x");
  EXPECT_EQ(r.status, S::kFailed);  // never offered for download or archive
  EXPECT_EQ(r.sizeBytes, 1234);
  EXPECT_EQ(r.durationSeconds, 5.0);
  EXPECT_FALSE(r.storage);  // no key: no object
  EXPECT_FALSE(r.startedAt);
}

}  // namespace
}  // namespace recgw::storage
