#pragma once
// Rooms and lifecycle recordings in MongoDB (docs/architecture.md, "Rooms' recordings").
//
//   rooms       {id, tenant_id, name}                 read only here (created elsewhere)
//   recordings  {_id = id = "rec_…", tenant_id, room_id, status, started_at, stopped_at,
//                duration_seconds, size_bytes, storage {provider, bucket, key, storage_class},
//                provider_recording_id, source, failure_reason, ready_at, archived_at,
//                deleted_at, created_at, updated_at, recover_requested_at, active_room}
//   recording_transitions  {_id = "<id>:<state left>", recording_id, tenant_id, from, to, at}
//
// Every state change is one conditional findAndModify on the expected current status,
// preceded by an exit claim (a unique "<id>:<state>" document in the transitions
// collection), so concurrent requests resolve to exactly one winner on MongoDB and on
// FerretDB, whose conditional updates are not atomic (FerretDB#3040: SQLite backend, find
// then update outside a transaction). On FerretDB an unclaimed write (recover's
// recover_requested_at, sync's link) can still lose a field to a concurrent one; on
// MongoDB each update is atomic per document. "One recording per room at a time" is
// a unique sparse index on `active_room`, a field only a `recording` document carries (it is
// removed by the update that leaves `recording`): 20 concurrent starts insert 20 documents
// and 19 of them fail with a duplicate key. Every query names the tenant, so another
// tenant's ids look exactly like unknown ids. A soft-deleted recording keeps its data and
// gains `deleted_at`; reads and transitions skip it.
//
// Threads: the blocking functions run on MongoDB worker threads (through run()) and touch
// only their mongoc client and plain values. The pure helpers are safe anywhere.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reactor/status.h"
#include "storage/mongo_client.h"

namespace recgw::storage {

using TimePoint = std::chrono::system_clock::time_point;

enum class RecordingStatus { kRecording, kProcessing, kReady, kArchived, kFailed };

std::string_view statusName(RecordingStatus status);
std::optional<RecordingStatus> parseStatus(std::string_view text);
// recording → processing → ready → archived; recording|processing → failed. Nothing else.
bool canTransition(RecordingStatus from, RecordingStatus to);

// The transitions, in order, that bring a recording from `current` to what the media
// provider reports (e.g. recording + ready → processing, ready). A "ready" without an
// object counts as processing; archived is ours, so it counts as ready. Empty: nothing to do.
std::vector<RecordingStatus> stepsToward(RecordingStatus current, std::optional<RecordingStatus> reported,
                                         bool hasObject);

struct StoredObject {
  std::string provider;  // "s3" (the only kind archive understands)
  std::string bucket;    // empty: the hot bucket of the storage settings
  std::string key;
  std::string storageClass;  // empty: the bucket's default (STANDARD)
};

struct Recording {
  std::string id;
  std::string tenantId;
  std::string roomId;
  RecordingStatus status = RecordingStatus::kRecording;
  std::string providerRecordingId;  // empty: not linked to a provider recording
  std::string source;               // "api" (started here) or "provider" (imported by sync)
  std::string failureReason;
  std::optional<TimePoint> startedAt, stoppedAt, readyAt, archivedAt, deletedAt, recoverRequestedAt;
  TimePoint createdAt{};
  TimePoint updatedAt{};
  std::optional<double> durationSeconds;
  std::optional<int64_t> sizeBytes;
  std::optional<StoredObject> storage;
};

struct Room {
  std::string id;
  std::string tenantId;
  std::string name;
};

struct RecordingCollections {
  std::string database = "cxb";
  std::string rooms = "rooms";
  std::string recordings = "recordings";
  std::string transitions = "recording_transitions";  // exit claims and audit log (see .cc)
};

enum class StoreOutcome {
  kOk,
  kNoRoom,       // the room does not exist for this tenant
  kNotFound,     // no such recording for this tenant (or soft-deleted), or nothing active
  kConflict,     // the recording is not in the expected state; `recording` holds it as it is
  kUnavailable,  // MongoDB failed or the queue is full; `error` says why (safe to log)
};

struct StoreResult {
  StoreOutcome outcome = StoreOutcome::kUnavailable;
  std::optional<Recording> recording;
  std::optional<Room> room;
  std::string error;
  bool ok() const { return outcome == StoreOutcome::kOk; }
  static StoreResult unavailable(std::string why) {
    return {StoreOutcome::kUnavailable, {}, {}, std::move(why)};
  }
};

struct RecordingPage {
  std::vector<Recording> items;
  int64_t total = 0;
  std::string error;  // non-empty: MongoDB failed
  static RecordingPage unavailable(std::string why) { return {{}, 0, std::move(why)}; }
};

// What a transition writes besides the status. Unset fields are left alone.
struct TransitionUpdate {
  std::optional<RecordingStatus> to;  // nullopt: keep the status (touch only)
  std::optional<TimePoint> stoppedAt, readyAt, archivedAt, recoverRequestedAt;
  std::optional<double> durationSeconds;
  std::optional<int64_t> sizeBytes;
  std::optional<StoredObject> storage;
  std::optional<std::string> failureReason;
  std::optional<std::string> providerRecordingId;
  // The same transition run twice leaves the same result (archive: the verified copy is in
  // place either way). Such a transition completes one claimed by a run that crashed before
  // its update, at once rather than after the claim goes stale; concurrent identical
  // requests may then all succeed. Leave false where one winner matters (stop).
  bool idempotent = false;
};

// A recording as the media provider describes it, already mapped to our statuses. The
// handlers build it from the provider client's answer (storage/ knows nothing of fleet/).
struct ProviderSnapshot {
  std::string providerId;
  std::string roomId;
  std::optional<RecordingStatus> status;  // nullopt: a status we do not know
  std::optional<TimePoint> startedAt, stoppedAt;
  std::optional<double> durationSeconds;
  std::optional<int64_t> sizeBytes;
  std::optional<StoredObject> storage;
  std::string failureReason;
};

struct SyncResult {
  StoreOutcome outcome = StoreOutcome::kUnavailable;
  std::vector<Recording> synced;  // imported or newly linked, in the provider's order
  std::string error;
  std::vector<std::string> refused;  // provider ids listed that are not filed under this room
  static SyncResult unavailable(std::string why) {
    return {StoreOutcome::kUnavailable, {}, std::move(why), {}};
  }
};

// The journal of a streamed archive (hot and archive on two services: a multipart upload),
// one document per recording in the transitions collection, _id "<id>:archive_upload":
// {recording_id, tenant_id, owner, heartbeat_at, target, key, upload_id, source_etag, size,
// part_bytes, parts: [{n, size, md5}]}. It names the upload before any part is sent, so a
// run that dies leaves the upload findable: the next run of the same recording (after the
// owner's heartbeat went stale) resumes it, keeping the parts whose S3 ETag is the MD5 we
// recorded; the sweep aborts uploads nobody came back for. Deleted when the move is done.
struct ArchiveUploadPart {
  int number = 0;
  uint64_t size = 0;
  std::string md5Hex;
};

struct ArchiveUpload {
  std::string recordingId, tenantId;
  std::string owner;       // random, per run: only the owner writes the journal
  std::string target;      // archive endpoint and bucket: a journal for another target is not resumed
  std::string key;         // the object's key (the same in both stores)
  std::string uploadId;    // empty: not created yet
  std::string sourceEtag;  // the hot object's ETag when the upload started (bare)
  uint64_t size = 0;
  uint64_t partBytes = 0;
  std::vector<ArchiveUploadPart> parts;  // ascending numbers, each verified against S3's ETag
  TimePoint heartbeatAt{};
};

struct ArchiveClaim {
  enum class Kind {
    kTaken,        // ours; `previous` holds a dead run's journal to resume, if there was one
    kBusy,         // another run holds it and is alive (heartbeat fresh)
    kUnavailable,  // MongoDB failed; `error`
  };
  Kind kind = Kind::kUnavailable;
  std::optional<ArchiveUpload> previous;
  std::string error;
  static ArchiveClaim unavailable(std::string why) { return {Kind::kUnavailable, {}, std::move(why)}; }
};

// Journal documents of stale runs (the sweep's input), or a MongoDB error.
struct ArchiveUploadList {
  std::vector<ArchiveUpload> items;
  std::string error;
  static ArchiveUploadList unavailable(std::string why) { return {{}, std::move(why)}; }
};

std::string archiveUploadJournalId(std::string_view recordingId);
ArchiveUpload archiveUploadFromBson(const bson_t* doc);
void appendArchiveUpload(bson_t* doc, const ArchiveUpload& upload);

// "rec_" + 24 lower-case hex digits from OpenSSL's CSPRNG. Thread-safe.
std::string newRecordingId();

// Every recording id starts with this (minted here or imported). GET /api/v1/recordings/{id}
// serves rooms recordings and the call session stream, and is split on this prefix alone:
// the prefix is reserved for recordings, so a session id that had it could not be streamed
// there (see handlers/lifecycle.h).
inline constexpr std::string_view kRecordingIdPrefix = "rec_";
inline bool hasRecordingIdPrefix(std::string_view id) { return id.starts_with(kRecordingIdPrefix); }

// The value of `active_room` for a tenant's room: length-prefixed, so no tenant/room pair
// can collide with another. Pure.
std::string activeRoomKey(std::string_view tenantId, std::string_view roomId);

// The name under which the media provider knows a tenant's room. Rooms are unique only per
// tenant ({id, tenant_id}) and the provider knows nothing of tenants, so every question about
// a room's recordings names the room by this, and only provider recordings filed under it
// are the tenant's: `<length of tenant>:<tenant>:<room>`, the same injective form as
// activeRoomKey. Pure.
std::string providerRoomId(std::string_view tenantId, std::string_view roomId);

// What the room named by a provider recording is to a tenant's room.
enum class ProviderRoomBinding {
  kThisRoom,    // providerRoomId(tenant, room)
  kUnnamed,     // none given: a recording already linked is bound by its provider id
  kBareRoomId,  // the bare room id, as the provider knew rooms before they were scoped: the
                // tenant's only while no other tenant has a room with that id (roomIdShared)
  kOtherRoom,   // anything else: another tenant's room or another room
};
ProviderRoomBinding bindProviderRoom(std::string_view reportedRoom, std::string_view tenantId,
                                     std::string_view roomId);
// Whether a provider recording already linked to the tenant's recording (so known by its id)
// may move it on, or be reprocessed for it. Pure.
bool linkedProviderRoomAccepted(ProviderRoomBinding binding, bool roomIdShared);

// The local recording a provider recording belongs to, if any: same room, no provider id
// yet, status recording or processing, started within `window` of the provider's start;
// the closest start wins (the earlier one on a tie). Pure.
std::optional<size_t> matchLocalRecording(const ProviderSnapshot& provider,
                                          const std::vector<Recording>& locals, std::chrono::seconds window);

// BSON ⇄ Recording. Pure; exposed for tests. The document's `_id` is the recording id.
Recording recordingFromBson(const bson_t* doc);
void appendRecording(bson_t* doc, const Recording& recording);

// Owns nothing but the collection names and a flag saying the indexes exist. Create one per
// process (loop thread); the blocking functions are static and thread-safe.
class RecordingStore {
 public:
  RecordingStore(MongoClient& mongo, RecordingCollections names);

  const RecordingCollections& names() const { return names_; }

  // Runs `job` on a MongoDB worker thread, after making sure the indexes exist (once per
  // process; a failure is retried by the next job), and hands its result to `done` on the
  // loop thread. When the queue is full or the indexes cannot be created, `done` gets
  // R::unavailable(reason) instead — synchronously for a full queue. `done` may run after
  // the caller's objects are gone: capture weak references.
  template <typename R>
  void run(std::function<R(mongoc_client_t*, const RecordingCollections&)> job, std::function<void(R)> done) {
    auto ready = indexesReady_;
    RecordingCollections names = names_;
    auto shared = std::make_shared<std::function<void(R)>>(std::move(done));
    bool queued = mongo_.run([ready, names, job = std::move(job), shared](mongoc_client_t* client) {
      auto result = std::make_shared<R>(runJob<R>(client, names, *ready, job));
      return reactor::WorkerPool::Completion([shared, result] { (*shared)(std::move(*result)); });
    });
    if (!queued) (*shared)(R::unavailable("the MongoDB queue is full"));
  }

  // ---- blocking: worker threads only -------------------------------------------------

  // Creates the recordings indexes (active_room unique sparse, provider_recording_id unique
  // sparse, tenant/created_at, tenant/room/status, status/_id). "" on success. The rooms
  // collection belongs to another service and is left alone.
  static Status ensureIndexes(mongoc_client_t* client, const RecordingCollections& names);

  static std::optional<Room> findRoom(mongoc_client_t* client, const RecordingCollections& names,
                                      const std::string& tenantId, const std::string& roomId,
                                      std::string& error);

  // Whether a tenant other than tenantId has a room with this id (false with `error` set
  // when MongoDB failed).
  static bool roomIdShared(mongoc_client_t* client, const RecordingCollections& names,
                           const std::string& tenantId, const std::string& roomId, std::string& error);

  // kOk (the new recording), kNoRoom, kConflict (the active recording), kUnavailable.
  static StoreResult start(mongoc_client_t* client, const RecordingCollections& names,
                           const std::string& tenantId, const std::string& roomId, const std::string& newId,
                           TimePoint now);

  // The room's recording → processing with stopped_at and duration_seconds.
  // kOk, kNoRoom, kNotFound (nothing recording), kUnavailable.
  static StoreResult stop(mongoc_client_t* client, const RecordingCollections& names,
                          const std::string& tenantId, const std::string& roomId, TimePoint now);

  // One recording (not deleted), with its room when withRoom. kOk, kNotFound, kUnavailable.
  static StoreResult get(mongoc_client_t* client, const RecordingCollections& names,
                         const std::string& tenantId, const std::string& id, bool withRoom);

  // Newest first (created_at, then id), soft-deleted hidden; total counts the same filter.
  static RecordingPage list(mongoc_client_t* client, const RecordingCollections& names,
                            const std::string& tenantId, int64_t limit, int64_t offset);

  // A status change (update.to set): claims the exit from `expected`, then one conditional
  // findAndModify {_id: id, tenant_id (unless tenantId is empty: the poller), status:
  // expected, not deleted} → update (the claim is released when that matches nothing).
  // Without update.to, only the conditional update (a touch: no claim). Leaving
  // `recording` also removes active_room. kOk (the document after), kConflict (the
  // document as it is), kNotFound, kUnavailable.
  static StoreResult transition(mongoc_client_t* client, const RecordingCollections& names,
                                const std::string& tenantId, const std::string& id, RecordingStatus expected,
                                const TransitionUpdate& update, TimePoint now);

  // Sets deleted_at (and frees the room if it was recording); claimed like a state exit, so
  // of concurrent deletes one gets kOk and the others kNotFound. kOk, kNotFound, kUnavailable.
  static StoreResult softDelete(mongoc_client_t* client, const RecordingCollections& names,
                                const std::string& tenantId, const std::string& id, TimePoint now);

  // Brings a room's provider recordings in (the provider's answer for
  // providerRoomId(tenantId, roomId)): each one filed under exactly that name and not yet
  // known (by provider_recording_id, across tenants) is linked to a matching local recording
  // (see matchLocalRecording) or, when importUnknown, inserted as a new recording with source
  // "provider". One that names no room or another room (the bare room id included: room ids
  // repeat across tenants) is never taken; its id goes to `refused`. Safe to run twice or
  // concurrently: the unique index on provider_recording_id keeps one document per provider
  // recording. checkRoom: answer kNoRoom for a room this tenant does not have (the API); the
  // poller passes false.
  static SyncResult sync(mongoc_client_t* client, const RecordingCollections& names,
                         const std::string& tenantId, const std::string& roomId,
                         const std::vector<ProviderSnapshot>& snapshots, std::chrono::seconds linkWindow,
                         bool importUnknown, bool checkRoom, TimePoint now);

  // ---- the streamed archive's journal (see ArchiveUpload) -----------------------------

  // Takes the journal of `mine.recordingId` for mine.owner: inserts `mine`, or, when a
  // journal is there and its heartbeat is older than `stale`, takes it over (the old one
  // is returned in `previous`; the document keeps its content, with our owner and
  // heartbeat). A fresh one: kBusy.
  static ArchiveClaim claimArchiveUpload(mongoc_client_t* client, const RecordingCollections& names,
                                         const ArchiveUpload& mine, std::chrono::seconds stale,
                                         TimePoint now);
  // Writes the journal (and a fresh heartbeat) while `upload.owner` still holds it. "" when
  // written; "lost" when another owner took it over; else MongoDB's error.
  static std::string saveArchiveUpload(mongoc_client_t* client, const RecordingCollections& names,
                                       const ArchiveUpload& upload, TimePoint now);
  // Deletes the journal if `owner` holds it. "" or MongoDB's error.
  static std::string releaseArchiveUpload(mongoc_client_t* client, const RecordingCollections& names,
                                          const std::string& recordingId, const std::string& owner);
  // Journals whose heartbeat is older than `stale`, oldest first, at most `limit`.
  static ArchiveUploadList staleArchiveUploads(mongoc_client_t* client, const RecordingCollections& names,
                                               std::chrono::seconds stale, TimePoint now, int64_t limit);

  // The poll's work, in _id order after `afterId` ("" from the start), not deleted: with a
  // provider id (linked) in recording or processing, or without one (!linked) in
  // processing only (a recording one is its user's to stop). Reads only: the poll writes
  // nothing but transitions (FerretDB's updates rewrite whole documents, so every extra
  // writer could undo another's update there).
  static RecordingPage pollBatch(mongoc_client_t* client, const RecordingCollections& names, bool linked,
                                 const std::string& afterId, int64_t limit);

 private:
  template <typename R>
  static R runJob(mongoc_client_t* client, const RecordingCollections& names, std::atomic<bool>& ready,
                  const std::function<R(mongoc_client_t*, const RecordingCollections&)>& job) {
    if (!client) return R::unavailable("no MongoDB client available");
    if (!ready.load(std::memory_order_acquire)) {
      if (auto made = ensureIndexes(client, names); !made)
        return R::unavailable("cannot create the recordings indexes: " + made.error().message);
      ready.store(true, std::memory_order_release);
    }
    return job(client, names);
  }

  MongoClient& mongo_;
  RecordingCollections names_;
  std::shared_ptr<std::atomic<bool>> indexesReady_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace recgw::storage
