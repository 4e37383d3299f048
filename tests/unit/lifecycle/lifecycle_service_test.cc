// LifecycleService's workflows over fakes of the store, the provider and S3
// (tests/unit/lifecycle/fakes.h): the outcomes, the failure paths and what each leaves behind.
#include "lifecycle/lifecycle_service.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "reactor/metrics.h"
#include "tests/unit/lifecycle/fakes.h"

namespace recgw::lifecycle {
namespace {

using namespace std::chrono_literals;
using testing::Deferred;
using testing::FakeArchive;
using testing::FakeProvider;
using testing::FakeStore;
using Kind = Problem::Kind;

const std::string kTenantA = "acme";
const std::string kTenantB = "globex";
const std::string kRoom = "standup";

// What a workflow answered (set once the fakes' answers are drained).
template <typename T>
struct Answer {
  std::optional<Outcome<T>> outcome;
  int calls = 0;
  Reply<T> reply() {
    return [this](Outcome<T> o) {
      ++calls;
      outcome = std::move(o);
    };
  }
  bool ok() const { return outcome && outcome->has_value(); }
  const T& value() const { return outcome->value(); }
  Kind kind() const { return outcome->error().kind; }
};

class LifecycleServiceTest : public ::testing::Test {
 protected:
  LifecycleServiceTest() {
    store.addRoom(kTenantA, kRoom);
    service = std::make_unique<LifecycleService>(store, provider, archive, settings, &metrics);
  }

  Recording seed(std::string id, RecordingStatus status, std::string providerId = {}) {
    Recording r;
    r.id = std::move(id);
    r.tenantId = kTenantA;
    r.roomId = kRoom;
    r.status = status;
    r.source = "api";
    r.providerRecordingId = std::move(providerId);
    r.startedAt = Clock::now() - 10min;
    if (status == RecordingStatus::kReady)
      r.storage = storage::StoredObject{"s3", FakeArchive::kHotBucket, "calls/" + r.id + ".ogg", {}};
    return store.put(r);
  }

  fleet::ProviderRecording providerRecording(std::string id, std::string room, std::string status) {
    fleet::ProviderRecording p;
    p.id = std::move(id);
    p.roomId = std::move(room);
    p.status = std::move(status);
    p.startedAt = Clock::now() - 10min;
    return p;
  }

  double metric(std::string_view name, std::string_view key, std::string_view value) {
    return metrics.value(name, reactor::Metrics::label(key, value));
  }

  Caller a{kTenantA, "req-a", nullptr};
  Caller b{kTenantB, "req-b", nullptr};
  Deferred loop;
  FakeStore store{loop};
  FakeProvider provider{loop};
  FakeArchive archive{loop};
  LifecycleSettings settings;
  reactor::Metrics metrics;
  std::unique_ptr<LifecycleService> service;
};

// ---- start / stop -------------------------------------------------------------------

TEST_F(LifecycleServiceTest, StartMakesARecordingAndASecondStartConflicts) {
  Answer<Recording> first, second;
  service->start(a, kRoom, first.reply());
  loop.drain();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first.value().status, RecordingStatus::kRecording);
  EXPECT_TRUE(first.value().id.starts_with("rec_"));
  EXPECT_EQ(first.value().roomId, kRoom);
  EXPECT_EQ(
      metrics.value("recgw_lifecycle_transitions_total", reactor::Metrics::label("from", "none") + "," +
                                                             reactor::Metrics::label("to", "recording")),
      1);

  service->start(a, kRoom, second.reply());
  loop.drain();
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.kind(), Kind::kAlreadyRecording);
  ASSERT_TRUE(second.outcome->error().current);
  EXPECT_EQ(second.outcome->error().current->id, first.value().id);
}

TEST_F(LifecycleServiceTest, AnotherTenantsRoomIsNoRoom) {
  Answer<Recording> start, stop;
  service->start(b, kRoom, start.reply());
  service->stop(b, kRoom, stop.reply());
  loop.drain();
  EXPECT_EQ(start.kind(), Kind::kNoRoom);
  EXPECT_EQ(stop.kind(), Kind::kNoRoom);
  EXPECT_TRUE(store.recordings.empty());
}

TEST_F(LifecycleServiceTest, StopMovesTheActiveRecordingToProcessingOnce) {
  Answer<Recording> nothing, started, stopped, again;
  service->stop(a, kRoom, nothing.reply());
  loop.drain();
  EXPECT_EQ(nothing.kind(), Kind::kNotFound);

  service->start(a, kRoom, started.reply());
  loop.drain();
  service->stop(a, kRoom, stopped.reply());
  loop.drain();
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped.value().id, started.value().id);
  EXPECT_EQ(stopped.value().status, RecordingStatus::kProcessing);
  EXPECT_TRUE(stopped.value().stoppedAt);

  service->stop(a, kRoom, again.reply());
  loop.drain();
  EXPECT_EQ(again.kind(), Kind::kNotFound);
}

TEST_F(LifecycleServiceTest, StoreDownIsStoreUnavailableWithItsReason) {
  store.unavailable = true;
  Answer<Recording> start;
  service->start(a, kRoom, start.reply());
  loop.drain();
  ASSERT_FALSE(start.ok());
  EXPECT_EQ(start.kind(), Kind::kStoreUnavailable);
  EXPECT_NE(start.outcome->error().detail.find("MongoDB is down"), std::string::npos);
}

// ---- sync ---------------------------------------------------------------------------

TEST_F(LifecycleServiceTest, SyncWithoutAProviderAsksNobody) {
  provider.isConfigured = false;
  Answer<std::vector<Recording>> sync;
  service->sync(a, kRoom, sync.reply());
  loop.drain();
  EXPECT_EQ(sync.kind(), Kind::kProviderNotConfigured);
  EXPECT_EQ(provider.calls, 0);
}

TEST_F(LifecycleServiceTest, SyncOfAnotherTenantsRoomNeverReachesTheProvider) {
  Answer<std::vector<Recording>> sync;
  service->sync(b, kRoom, sync.reply());
  loop.drain();
  EXPECT_EQ(sync.kind(), Kind::kNoRoom);
  EXPECT_EQ(provider.calls, 0);
}

TEST_F(LifecycleServiceTest, SyncWithTheProviderDownIsProviderFailedAndImportsNothing) {
  provider.add(providerRecording("p1", storage::providerRoomId(kTenantA, kRoom), "ready"));
  provider.down = true;
  Answer<std::vector<Recording>> sync;
  service->sync(a, kRoom, sync.reply());
  loop.drain();
  ASSERT_FALSE(sync.ok());
  EXPECT_EQ(sync.kind(), Kind::kProviderFailed);
  EXPECT_EQ(sync.outcome->error().provider.kind, fleet::ProviderError::Kind::kBadGateway);
  EXPECT_TRUE(store.recordings.empty());
  EXPECT_EQ(metric("recgw_lifecycle_provider_calls_total", "op", "list_failed"), 1);
}

TEST_F(LifecycleServiceTest, SyncTakesOnlyWhatTheProviderFilesUnderTheTenantsRoom) {
  provider.add(providerRecording("mine", storage::providerRoomId(kTenantA, kRoom), "processing"));
  provider.add(providerRecording("bare", kRoom, "processing"));  // the bare id: maybe another tenant's
  provider.add(providerRecording("theirs", storage::providerRoomId(kTenantB, kRoom), "processing"));
  Answer<std::vector<Recording>> sync;
  service->sync(a, kRoom, sync.reply());
  loop.drain();
  ASSERT_TRUE(sync.ok());
  ASSERT_EQ(sync.value().size(), 1u);
  EXPECT_EQ(sync.value()[0].providerRecordingId, "mine");
  EXPECT_EQ(sync.value()[0].source, "provider");
  EXPECT_EQ(store.recordings.size(), 1u);
}

// ---- archive ------------------------------------------------------------------------

TEST_F(LifecycleServiceTest, ArchiveMovesTheObjectThenSetsTheState) {
  seed("rec_ready", RecordingStatus::kReady);
  Answer<Recording> archived;
  service->archive(a, "rec_ready", archived.reply());
  loop.drain();
  ASSERT_TRUE(archived.ok());
  EXPECT_EQ(archived.value().status, RecordingStatus::kArchived);
  ASSERT_TRUE(archived.value().storage);
  EXPECT_EQ(archived.value().storage->bucket, FakeArchive::kArchiveBucket);
  EXPECT_EQ(archive.moved, std::vector<std::string>{"rec_ready"});
  EXPECT_EQ(metric("recgw_lifecycle_archive_total", "outcome", "archived"), 1);
}

TEST_F(LifecycleServiceTest, ArchiveWhoseS3CopyFailsLeavesTheRecordingReadyAndCanBeRetried) {
  seed("rec_ready", RecordingStatus::kReady);
  archive.nextMoves = {storage::ArchiveMove::Kind::kError};
  Answer<Recording> failed;
  service->archive(a, "rec_ready", failed.reply());
  loop.drain();
  ASSERT_FALSE(failed.ok());
  const Problem& p = failed.outcome->error();
  EXPECT_EQ(p.kind, Kind::kArchiveNotMoved);
  EXPECT_EQ(p.moveKind, storage::ArchiveMove::Kind::kError);
  EXPECT_NE(p.detail.find("InternalError"), std::string::npos);  // S3's words, for the log
  EXPECT_EQ(p.recordingId, "rec_ready");
  EXPECT_EQ(store.recordings["rec_ready"].status, RecordingStatus::kReady);
  EXPECT_EQ(store.transitions, 0);  // the state was never claimed
  EXPECT_EQ(metric("recgw_lifecycle_archive_total", "outcome", "storage_error"), 1);

  Answer<Recording> retried;
  service->archive(a, "rec_ready", retried.reply());
  loop.drain();
  ASSERT_TRUE(retried.ok());
  EXPECT_EQ(retried.value().status, RecordingStatus::kArchived);
  EXPECT_EQ(archive.attempts, 2);
}

TEST_F(LifecycleServiceTest, ArchiveRefusesWhatIsNotReadyOrNotInTheHotStore) {
  seed("rec_processing", RecordingStatus::kProcessing);
  seed("rec_ready", RecordingStatus::kReady);
  Answer<Recording> notReady, refused;
  service->archive(a, "rec_processing", notReady.reply());
  archive.refusal =
      ArchiveRefusal{ArchiveRefusal::Kind::kNotInHotStore, "the recording is not in the hot bucket"};
  service->archive(a, "rec_ready", refused.reply());
  loop.drain();
  ASSERT_FALSE(notReady.ok());
  EXPECT_EQ(notReady.kind(), Kind::kInvalidState);
  EXPECT_EQ(notReady.outcome->error().current->status, RecordingStatus::kProcessing);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.kind(), Kind::kArchiveRefused);
  EXPECT_EQ(refused.outcome->error().refusal->kind, ArchiveRefusal::Kind::kNotInHotStore);
  EXPECT_EQ(archive.attempts, 0);
}

TEST_F(LifecycleServiceTest, ArchiveOfAnotherTenantsRecordingIsNotFoundAndMovesNothing) {
  seed("rec_ready", RecordingStatus::kReady);
  Answer<Recording> archived;
  service->archive(b, "rec_ready", archived.reply());
  loop.drain();
  EXPECT_EQ(archived.kind(), Kind::kNotFound);
  EXPECT_EQ(archive.attempts, 0);
  EXPECT_EQ(store.recordings["rec_ready"].status, RecordingStatus::kReady);
}

// ---- recover ------------------------------------------------------------------------

TEST_F(LifecycleServiceTest, RecoverAsksTheProviderToReprocessAndNotesTheTime) {
  seed("rec_stuck", RecordingStatus::kProcessing, "p-stuck");
  provider.add(providerRecording("p-stuck", storage::providerRoomId(kTenantA, kRoom), "processing"));
  Answer<Recording> recovered;
  service->recover(a, "rec_stuck", recovered.reply());
  loop.drain();
  ASSERT_TRUE(recovered.ok());
  EXPECT_EQ(recovered.value().status, RecordingStatus::kProcessing);
  EXPECT_TRUE(recovered.value().recoverRequestedAt);
  EXPECT_EQ(provider.reprocessed, std::vector<std::string>{"p-stuck"});
}

TEST_F(LifecycleServiceTest, RecoverWithTheProviderDownChangesNothing) {
  seed("rec_stuck", RecordingStatus::kProcessing, "p-stuck");
  provider.add(providerRecording("p-stuck", storage::providerRoomId(kTenantA, kRoom), "processing"));
  provider.down = true;
  Answer<Recording> recovered;
  service->recover(a, "rec_stuck", recovered.reply());
  loop.drain();
  ASSERT_FALSE(recovered.ok());
  EXPECT_EQ(recovered.kind(), Kind::kProviderFailed);
  EXPECT_EQ(recovered.outcome->error().recordingId, "rec_stuck");
  EXPECT_NE(recovered.outcome->error().provider.reason.find("port 1"), std::string::npos);
  EXPECT_TRUE(provider.reprocessed.empty());
  EXPECT_FALSE(store.recordings["rec_stuck"].recoverRequestedAt);
}

TEST_F(LifecycleServiceTest, RecoverRefusesAProviderRecordingFiledUnderAnotherRoom) {
  store.addRoom(kTenantB, kRoom);  // the bare room id is shared: not provably ours
  seed("rec_bare", RecordingStatus::kProcessing, "p-bare");
  provider.add(providerRecording("p-bare", kRoom, "processing"));
  seed("rec_elsewhere", RecordingStatus::kProcessing, "p-elsewhere");
  provider.add(providerRecording("p-elsewhere", storage::providerRoomId(kTenantB, kRoom), "processing"));
  Answer<Recording> bare, elsewhere;
  service->recover(a, "rec_bare", bare.reply());
  service->recover(a, "rec_elsewhere", elsewhere.reply());
  loop.drain();
  EXPECT_EQ(bare.kind(), Kind::kProviderRoomMismatch);
  EXPECT_EQ(elsewhere.kind(), Kind::kProviderRoomMismatch);
  EXPECT_NE(elsewhere.outcome->error().detail.find(storage::providerRoomId(kTenantB, kRoom)),
            std::string::npos);
  EXPECT_TRUE(provider.reprocessed.empty());
  EXPECT_EQ(metric("recgw_lifecycle_provider_calls_total", "op", "not_bound"), 2);
}

TEST_F(LifecycleServiceTest, RecoverChecksStateAndTenantBeforeAskingTheProvider) {
  seed("rec_ready", RecordingStatus::kReady, "p-ready");
  seed("rec_unlinked", RecordingStatus::kProcessing);
  seed("rec_stuck", RecordingStatus::kProcessing, "p-stuck");
  Answer<Recording> ready, unlinked, stranger, unknown;
  service->recover(a, "rec_ready", ready.reply());
  service->recover(a, "rec_unlinked", unlinked.reply());
  service->recover(b, "rec_stuck", stranger.reply());
  service->recover(a, "rec_nope", unknown.reply());
  loop.drain();
  EXPECT_EQ(ready.kind(), Kind::kInvalidState);
  EXPECT_EQ(unlinked.kind(), Kind::kNoProviderRecording);
  EXPECT_EQ(stranger.kind(), Kind::kNotFound);
  EXPECT_EQ(unknown.kind(), Kind::kNotFound);
  EXPECT_EQ(provider.calls, 0);
}

TEST_F(LifecycleServiceTest, RecoverOfARecordingTheProviderLostIsProviderLostRecording) {
  seed("rec_stuck", RecordingStatus::kProcessing, "p-gone");
  Answer<Recording> recovered;
  service->recover(a, "rec_stuck", recovered.reply());
  loop.drain();
  EXPECT_EQ(recovered.kind(), Kind::kProviderLostRecording);
  EXPECT_TRUE(provider.reprocessed.empty());
}

// The callers stay for their first check (the store's answer) and leave before the provider's.
TEST_F(LifecycleServiceTest, ACallerWhoLeftGetsNoSyncOrReprocessCarriedOn) {
  seed("rec_stuck", RecordingStatus::kProcessing, "p-stuck");
  provider.add(providerRecording("p-stuck", storage::providerRoomId(kTenantA, kRoom), "processing"));
  provider.add(providerRecording("p-new", storage::providerRoomId(kTenantA, kRoom), "processing"));
  int recoverChecks = 0, syncChecks = 0;
  Caller leavingRecover{kTenantA, "req-recover", [&] { return ++recoverChecks <= 1; }};
  Caller leavingSync{kTenantA, "req-sync", [&] { return ++syncChecks <= 1; }};
  Answer<Recording> recovered;
  Answer<std::vector<Recording>> synced;
  service->recover(leavingRecover, "rec_stuck", recovered.reply());
  service->sync(leavingSync, kRoom, synced.reply());
  loop.drain();
  EXPECT_EQ(provider.calls, 2);  // the get and the list, nothing after them
  EXPECT_TRUE(provider.reprocessed.empty());
  EXPECT_EQ(store.recordings.size(), 1u);
  EXPECT_EQ(recovered.calls, 0);
  EXPECT_EQ(synced.calls, 0);
}

TEST_F(LifecycleServiceTest, AnArchiveIsNotStartedForACallerWhoLeft) {
  seed("rec_ready", RecordingStatus::kReady);
  Caller left{kTenantA, "req-left", [] { return false; }};
  Answer<Recording> archived;
  service->archive(left, "rec_ready", archived.reply());
  loop.drain();
  EXPECT_EQ(archive.attempts, 0);
  EXPECT_EQ(store.recordings["rec_ready"].status, RecordingStatus::kReady);
  EXPECT_EQ(archived.calls, 0);
}

// ---- get, list, remove, download ----------------------------------------------------

TEST_F(LifecycleServiceTest, ReadsAndDeletesSeeOnlyTheTenantsRecordings) {
  seed("rec_one", RecordingStatus::kProcessing);
  Answer<RecordingWithRoom> mine, theirs;
  Answer<RecordingList> listA, listB;
  service->get(a, "rec_one", mine.reply());
  service->get(b, "rec_one", theirs.reply());
  service->list(a, 20, 0, listA.reply());
  service->list(b, 20, 0, listB.reply());
  loop.drain();
  ASSERT_TRUE(mine.ok());
  EXPECT_EQ(mine.value().room->id, kRoom);
  EXPECT_EQ(theirs.kind(), Kind::kNotFound);
  EXPECT_EQ(listA.value().total, 1);
  EXPECT_EQ(listB.value().total, 0);

  Answer<Recording> strangerDelete, deleted, again;
  service->remove(b, "rec_one", strangerDelete.reply());
  loop.drain();
  EXPECT_EQ(strangerDelete.kind(), Kind::kNotFound);
  service->remove(a, "rec_one", deleted.reply());
  loop.drain();
  ASSERT_TRUE(deleted.ok());
  EXPECT_TRUE(deleted.value().deletedAt);
  service->remove(a, "rec_one", again.reply());
  loop.drain();
  EXPECT_EQ(again.kind(), Kind::kNotFound);
}

TEST_F(LifecycleServiceTest, DownloadSignsOnlyTheHotAndArchiveBuckets) {
  seed("rec_hot", RecordingStatus::kReady);
  Recording foreign = seed("rec_foreign", RecordingStatus::kReady);
  store.recordings["rec_foreign"].storage->bucket = "secret-bucket";
  seed("rec_processing", RecordingStatus::kProcessing);
  Answer<Download> hot, refused, processing;
  service->download(a, "rec_hot", hot.reply());
  service->download(a, "rec_foreign", refused.reply());
  service->download(a, "rec_processing", processing.reply());
  loop.drain();
  ASSERT_TRUE(hot.ok());
  EXPECT_FALSE(hot.value().notReady);
  EXPECT_NE(hot.value().url.find("X-Amz-Signature="), std::string::npos);
  EXPECT_NE(hot.value().url.find("/hot/calls/rec_hot.ogg"), std::string::npos);
  EXPECT_EQ(hot.value().expiresIn, settings.downloadUrlTtl.count());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.kind(), Kind::kLocationRefused);
  EXPECT_NE(refused.outcome->error().detail.find("secret-bucket"), std::string::npos);
  ASSERT_TRUE(processing.ok());
  EXPECT_EQ(processing.value().notReady, std::string(kDownloadProcessingMessage));
  EXPECT_TRUE(processing.value().url.empty());
}

TEST_F(LifecycleServiceTest, DownloadWithoutCredentialsIsStorageNotConfigured) {
  seed("rec_hot", RecordingStatus::kReady);
  archive.signers = false;
  Answer<Download> d;
  service->download(a, "rec_hot", d.reply());
  loop.drain();
  EXPECT_EQ(d.kind(), Kind::kStorageNotConfigured);
}

// ---- lifetime -----------------------------------------------------------------------

TEST_F(LifecycleServiceTest, AnswersArrivingAfterTheServiceIsGoneAreDropped) {
  Answer<Recording> start;
  service->start(a, kRoom, start.reply());
  service.reset();
  loop.drain();
  EXPECT_EQ(start.calls, 0);
}

// ---- pure helpers -------------------------------------------------------------------

TEST(ProviderStatusTest, Words) {
  EXPECT_EQ(mapProviderStatus("recording"), RecordingStatus::kRecording);
  EXPECT_EQ(mapProviderStatus("in_progress"), RecordingStatus::kRecording);
  EXPECT_EQ(mapProviderStatus("stopped"), RecordingStatus::kProcessing);
  EXPECT_EQ(mapProviderStatus("processing"), RecordingStatus::kProcessing);
  EXPECT_EQ(mapProviderStatus("completed"), RecordingStatus::kReady);
  EXPECT_EQ(mapProviderStatus("ready"), RecordingStatus::kReady);
  EXPECT_EQ(mapProviderStatus("error"), RecordingStatus::kFailed);
  EXPECT_FALSE(mapProviderStatus("archived"));
  EXPECT_FALSE(mapProviderStatus(""));
  EXPECT_FALSE(mapProviderStatus("Ready"));  // the client lower-cases first
}

TEST(UpdatesTowardTest, ReadyCarriesTheObjectAndStopTime) {
  Recording rec;
  rec.status = RecordingStatus::kRecording;
  storage::ProviderSnapshot snap;
  snap.stoppedAt = Clock::now() - 1min;
  snap.sizeBytes = 42;
  snap.durationSeconds = 59.5;
  snap.storage = storage::StoredObject{"s3", "hot", "k", {}};
  auto now = Clock::now();
  auto updates = updatesToward(rec, snap, {RecordingStatus::kProcessing, RecordingStatus::kReady}, now);
  ASSERT_EQ(updates.size(), 2u);
  EXPECT_EQ(updates[0].to, RecordingStatus::kProcessing);
  EXPECT_EQ(updates[0].stoppedAt, snap.stoppedAt);
  EXPECT_EQ(updates[1].to, RecordingStatus::kReady);
  EXPECT_EQ(updates[1].readyAt, now);
  EXPECT_EQ(updates[1].sizeBytes, 42);
  ASSERT_TRUE(updates[1].storage);
  EXPECT_EQ(updates[1].storage->key, "k");
}

TEST(ArchiveFailureNameTest, OneNamePerKind) {
  using K = storage::ArchiveMove::Kind;
  EXPECT_EQ(archiveFailureName(K::kError), "storage_error");
  EXPECT_EQ(archiveFailureName(K::kMissing), "not_in_hot_bucket");
  EXPECT_EQ(archiveFailureName(K::kBusy), "archive_in_progress");
  EXPECT_EQ(archiveFailureName(K::kMismatch), "archive_mismatch");
  EXPECT_EQ(archiveFailureName(K::kTooLarge), "too_large");
  EXPECT_EQ(archiveFailureName(K::kUnavailable), "storage_not_configured");
}

}  // namespace
}  // namespace recgw::lifecycle
