#include "storage/recording_store.h"

#include <algorithm>
#include <set>

#include "storage/bson_fields.h"
#include "storage/crypto.h"

namespace recgw::storage {
namespace {

constexpr int64_t kMaxTimeMs = 5000;
constexpr int64_t kMaxLinkCandidates = 200;
constexpr uint32_t kDuplicateKey = 11000;
// createIndexes: an index of that name or key exists with other options.
constexpr uint32_t kIndexOptionsConflict = 85;
constexpr uint32_t kIndexKeySpecsConflict = 86;

using fields::fromMillis;
using fields::getDate;
using fields::getDocument;
using fields::getDouble;
using fields::getInt;
using fields::getString;
using fields::putDate;
using fields::putString;
using fields::toMillis;

void appendStorage(bson_t* doc, const char* key, const StoredObject& s) {
  bson_t sub;
  bson_append_document_begin(doc, key, -1, &sub);
  putString(&sub, "provider", s.provider);
  putString(&sub, "bucket", s.bucket);
  putString(&sub, "key", s.key);
  if (!s.storageClass.empty()) putString(&sub, "storage_class", s.storageClass);
  bson_append_document_end(doc, &sub);
}

// {field: null} matches a missing field too: "not deleted".
void appendNotDeleted(bson_t* filter) { bson_append_null(filter, "deleted_at", -1); }

void appendStatusIn(bson_t* filter, std::initializer_list<RecordingStatus> statuses) {
  bson_t cond, list;
  bson_append_document_begin(filter, "status", -1, &cond);
  bson_append_array_begin(&cond, "$in", -1, &list);
  int i = 0;
  for (RecordingStatus s : statuses) putString(&list, std::to_string(i++).c_str(), statusName(s));
  bson_append_array_end(&cond, &list);
  bson_append_document_end(filter, &cond);
}

void appendExists(bson_t* filter, const char* field, bool exists) {
  bson_t cond;
  bson_append_document_begin(filter, field, -1, &cond);
  bson_append_bool(&cond, "$exists", -1, exists);
  bson_append_document_end(filter, &cond);
}

// mongo_handles.h has no database handle; this file is its only user.
struct MongocDatabaseFree {
  void operator()(mongoc_database_t* d) const noexcept { mongoc_database_destroy(d); }
};
using MongocDatabasePtr = std::unique_ptr<mongoc_database_t, MongocDatabaseFree>;

MongocCollectionPtr collection(mongoc_client_t* client, const RecordingCollections& names,
                               const std::string& name) {
  return MongocCollectionPtr(mongoc_client_get_collection(client, names.database.c_str(), name.c_str()));
}

// Finds documents; false + error when MongoDB failed. (A template: bson_t's alignment
// attribute is dropped in std::function's signature.)
template <typename Each>
bool findMany(mongoc_collection_t* coll, const bson_t* filter, const bson_t* opts, Each&& each,
              std::string& error) {
  MongocCursorPtr cursor(mongoc_collection_find_with_opts(coll, filter, opts, nullptr));
  const bson_t* doc = nullptr;
  while (mongoc_cursor_next(cursor.get(), &doc)) each(doc);
  bson_error_t err;
  if (mongoc_cursor_error(cursor.get(), &err)) {
    error = err.message;
    return false;
  }
  return true;
}

std::optional<Recording> findOneRecording(mongoc_collection_t* coll, const bson_t* filter,
                                          std::string& error) {
  ScopedBson opts;
  BSON_APPEND_INT64(opts.get(), "limit", 1);
  BSON_APPEND_INT64(opts.get(), "maxTimeMS", kMaxTimeMs);
  std::optional<Recording> found;
  findMany(
      coll, filter, opts.get(), [&](const bson_t* doc) { found = recordingFromBson(doc); }, error);
  return found;
}

enum class Modify { kMatched, kNoMatch, kError };

// One findAndModify returning the document after the update.
Modify findAndModify(mongoc_collection_t* coll, const bson_t* query, const bson_t* sort, const bson_t* update,
                     Recording& out, std::string& error) {
  ScopedBson reply;
  bson_error_t err;
  if (!mongoc_collection_find_and_modify(coll, query, sort, update, nullptr, false, false, true, reply.get(),
                                         &err)) {
    error = err.message;
    return Modify::kError;
  }
  bson_t value;
  if (!getDocument(reply.get(), "value", value)) return Modify::kNoMatch;
  out = recordingFromBson(&value);
  return Modify::kMatched;
}

enum class Insert { kOk, kDuplicate, kError };

Insert insertRecording(mongoc_collection_t* coll, const Recording& rec, const std::string& activeRoom,
                       std::string& error) {
  ScopedBson doc;
  appendRecording(doc.get(), rec);
  if (!activeRoom.empty()) putString(doc.get(), "active_room", activeRoom);
  bson_error_t err;
  if (mongoc_collection_insert_one(coll, doc.get(), nullptr, nullptr, &err)) return Insert::kOk;
  if (err.code == kDuplicateKey) return Insert::kDuplicate;
  error = err.message;
  return Insert::kError;
}

// {_id: id[, tenant_id]}
void appendIdFilter(bson_t* filter, const std::string& tenantId, const std::string& id) {
  putString(filter, "_id", id);
  if (!tenantId.empty()) putString(filter, "tenant_id", tenantId);
}

// After a conditional update matched nothing: was the recording there at all?
StoreResult conflictOrNotFound(mongoc_collection_t* coll, const std::string& tenantId,
                               const std::string& id) {
  ScopedBson filter;
  appendIdFilter(filter.get(), tenantId, id);
  appendNotDeleted(filter.get());
  std::string error;
  auto current = findOneRecording(coll, filter.get(), error);
  if (!error.empty()) return StoreResult::unavailable(error);
  if (!current) return {StoreOutcome::kNotFound, {}, {}, {}};
  return {StoreOutcome::kConflict, std::move(current), {}, {}};
}

// ---- exit claims --------------------------------------------------------------------
//
// A recording leaves each state at most once (the state machine has no cycles), so
// "<id>:<state>" names that exit uniquely. Inserting it into the transitions collection
// is the arbiter of concurrent transitions: a unique _id is atomic on MongoDB and on
// FerretDB alike, while FerretDB's SQLite backend runs a conditional update as find, then
// update, outside a transaction (FerretDB#3040), so two findAndModify calls on the same
// expected status can both win there. The conditional update still follows. The claims
// stay as an audit log of transitions: {_id, recording_id, tenant_id, from, to, at}.

constexpr auto kStaleClaim = std::chrono::seconds(60);

enum class Claim { kTaken, kLost, kError };

Claim insertClaim(mongoc_collection_t* coll, const std::string& claimId, const Recording& rec,
                  std::string_view from, std::string_view to, TimePoint now, std::string& error) {
  ScopedBson doc;
  putString(doc.get(), "_id", claimId);
  putString(doc.get(), "recording_id", rec.id);
  putString(doc.get(), "tenant_id", rec.tenantId);
  putString(doc.get(), "from", from);
  putString(doc.get(), "to", to);
  putDate(doc.get(), "at", now);
  bson_error_t err;
  if (mongoc_collection_insert_one(coll, doc.get(), nullptr, nullptr, &err)) return Claim::kTaken;
  if (err.code == kDuplicateKey) return Claim::kLost;
  error = err.message;
  return Claim::kError;
}

// `heldTo`: the `to` of a claim we lost to, when we read it.
template <typename StillThere>
Claim claimExit(mongoc_client_t* client, const RecordingCollections& names, const std::string& claimId,
                const Recording& rec, std::string_view from, std::string_view to, TimePoint now,
                StillThere&& stillThere, std::string& error, std::string* heldTo = nullptr) {
  auto coll = collection(client, names, names.transitions);
  Claim c = insertClaim(coll.get(), claimId, rec, from, to, now, error);
  if (c != Claim::kLost) return c;
  // The holder may have died between its claim and its update, which would block this
  // exit for ever: a claim older than kStaleClaim on a recording still in the state is
  // taken over. Deleting it names its time, so only one taker removes it; the insert
  // that follows decides between takers.
  ScopedBson filter, opts;
  putString(filter.get(), "_id", claimId);
  BSON_APPEND_INT64(opts.get(), "limit", 1);
  std::optional<TimePoint> at;
  bool found = false;
  if (!findMany(
          coll.get(), filter.get(), opts.get(),
          [&](const bson_t* doc) {
            found = true;
            at = getDate(doc, "at");
            if (heldTo) *heldTo = getString(doc, "to");
          },
          error)) {
    return Claim::kError;
  }
  if (found && at && *at + kStaleClaim > now) return Claim::kLost;
  if (!stillThere()) return Claim::kLost;
  if (found) {
    ScopedBson del;
    putString(del.get(), "_id", claimId);
    if (at) putDate(del.get(), "at", *at);
    bson_error_t err;
    if (!mongoc_collection_delete_one(coll.get(), del.get(), nullptr, nullptr, &err)) {
      error = err.message;
      return Claim::kError;
    }
  }
  return insertClaim(coll.get(), claimId, rec, from, to, now, error);
}

// Undo a claim whose update did not happen (the recording was not in the state after all).
void releaseClaim(mongoc_client_t* client, const RecordingCollections& names, const std::string& claimId) {
  auto coll = collection(client, names, names.transitions);
  ScopedBson del;
  putString(del.get(), "_id", claimId);
  mongoc_collection_delete_one(coll.get(), del.get(), nullptr, nullptr, nullptr);
}

std::string createIndex(mongoc_client_t* client, const RecordingCollections& names, const char* name,
                        const std::vector<std::pair<const char*, int>>& keys, bool unique) {
  ScopedBson cmd, reply;
  bson_t indexes, index, key;
  putString(cmd.get(), "createIndexes", names.recordings);
  bson_append_array_begin(cmd.get(), "indexes", -1, &indexes);
  bson_append_document_begin(&indexes, "0", -1, &index);
  bson_append_document_begin(&index, "key", -1, &key);
  for (const auto& [field, direction] : keys) bson_append_int32(&key, field, -1, direction);
  bson_append_document_end(&index, &key);
  putString(&index, "name", name);
  if (unique) {
    bson_append_bool(&index, "unique", -1, true);
    bson_append_bool(&index, "sparse", -1, true);
  }
  bson_append_document_end(&indexes, &index);
  bson_append_array_end(cmd.get(), &indexes);
  MongocDatabasePtr db(mongoc_client_get_database(client, names.database.c_str()));
  bson_error_t err;
  bool ok = mongoc_database_write_command_with_opts(db.get(), cmd.get(), nullptr, reply.get(), &err);
  if (ok) return {};
  // A unique index must be ours: anything else breaks the one-winner guarantees. A helper
  // index defined differently by someone else is good enough.
  if (!unique && (err.code == kIndexOptionsConflict || err.code == kIndexKeySpecsConflict)) return {};
  return std::string(name) + ": " + err.message;
}

}  // namespace

std::string_view statusName(RecordingStatus status) {
  switch (status) {
    case RecordingStatus::kRecording:
      return "recording";
    case RecordingStatus::kProcessing:
      return "processing";
    case RecordingStatus::kReady:
      return "ready";
    case RecordingStatus::kArchived:
      return "archived";
    case RecordingStatus::kFailed:
      return "failed";
  }
  return "failed";
}

std::optional<RecordingStatus> parseStatus(std::string_view text) {
  for (RecordingStatus s : {RecordingStatus::kRecording, RecordingStatus::kProcessing,
                            RecordingStatus::kReady, RecordingStatus::kArchived, RecordingStatus::kFailed}) {
    if (statusName(s) == text) return s;
  }
  return std::nullopt;
}

bool canTransition(RecordingStatus from, RecordingStatus to) {
  using S = RecordingStatus;
  switch (from) {
    case S::kRecording:
      return to == S::kProcessing || to == S::kFailed;
    case S::kProcessing:
      return to == S::kReady || to == S::kFailed;
    case S::kReady:
      return to == S::kArchived;
    case S::kArchived:
    case S::kFailed:
      return false;
  }
  return false;
}

std::vector<RecordingStatus> stepsToward(RecordingStatus current, std::optional<RecordingStatus> reported,
                                         bool hasObject) {
  using S = RecordingStatus;
  std::vector<S> steps;
  if (!reported || (current != S::kRecording && current != S::kProcessing)) return steps;
  S target = *reported == S::kArchived ? S::kReady : *reported;
  if (target == S::kReady && !hasObject) target = S::kProcessing;
  if (target == S::kRecording) return steps;
  if (current == S::kRecording && target != S::kFailed) steps.push_back(S::kProcessing);
  if (target != S::kProcessing) steps.push_back(target);
  return steps;
}

std::string newRecordingId() { return "rec_" + crypto::hexLower(crypto::randomBytes(12)); }

std::string activeRoomKey(std::string_view tenantId, std::string_view roomId) {
  return std::to_string(tenantId.size()) + ":" + std::string(tenantId) + ":" + std::string(roomId);
}

std::string providerRoomId(std::string_view tenantId, std::string_view roomId) {
  return activeRoomKey(tenantId, roomId);
}

ProviderRoomBinding bindProviderRoom(std::string_view reportedRoom, std::string_view tenantId,
                                     std::string_view roomId) {
  if (reportedRoom.empty()) return ProviderRoomBinding::kUnnamed;
  if (reportedRoom == providerRoomId(tenantId, roomId)) return ProviderRoomBinding::kThisRoom;
  if (reportedRoom == roomId) return ProviderRoomBinding::kBareRoomId;
  return ProviderRoomBinding::kOtherRoom;
}

bool linkedProviderRoomAccepted(ProviderRoomBinding binding, bool roomIdShared) {
  switch (binding) {
    case ProviderRoomBinding::kThisRoom:
    case ProviderRoomBinding::kUnnamed:
      return true;
    case ProviderRoomBinding::kBareRoomId:
      return !roomIdShared;
    case ProviderRoomBinding::kOtherRoom:
      return false;
  }
  return false;
}

std::optional<size_t> matchLocalRecording(const ProviderSnapshot& provider,
                                          const std::vector<Recording>& locals, std::chrono::seconds window) {
  if (!provider.startedAt) return std::nullopt;
  std::optional<size_t> best;
  TimePoint::duration bestGap{};
  for (size_t i = 0; i < locals.size(); ++i) {
    const Recording& r = locals[i];
    if (!r.providerRecordingId.empty() || !r.startedAt) continue;
    if (!provider.roomId.empty() && r.roomId != provider.roomId) continue;
    if (r.status != RecordingStatus::kRecording && r.status != RecordingStatus::kProcessing) continue;
    auto gap = *r.startedAt > *provider.startedAt ? *r.startedAt - *provider.startedAt
                                                  : *provider.startedAt - *r.startedAt;
    if (gap > window) continue;
    if (!best || gap < bestGap || (gap == bestGap && *r.startedAt < *locals[*best].startedAt)) {
      best = i;
      bestGap = gap;
    }
  }
  return best;
}

Recording recordingFromBson(const bson_t* doc) {
  Recording r;
  r.id = getString(doc, "_id");
  if (r.id.empty()) r.id = getString(doc, "id");
  r.tenantId = getString(doc, "tenant_id");
  r.roomId = getString(doc, "room_id");
  // An unknown status reads as failed: never offer a download or an archive for it.
  r.status = parseStatus(getString(doc, "status")).value_or(RecordingStatus::kFailed);
  r.providerRecordingId = getString(doc, "provider_recording_id");
  r.source = getString(doc, "source");
  r.failureReason = getString(doc, "failure_reason");
  r.startedAt = getDate(doc, "started_at");
  r.stoppedAt = getDate(doc, "stopped_at");
  r.readyAt = getDate(doc, "ready_at");
  r.archivedAt = getDate(doc, "archived_at");
  r.deletedAt = getDate(doc, "deleted_at");
  r.recoverRequestedAt = getDate(doc, "recover_requested_at");
  r.createdAt = getDate(doc, "created_at").value_or(TimePoint{});
  r.updatedAt = getDate(doc, "updated_at").value_or(r.createdAt);
  r.durationSeconds = getDouble(doc, "duration_seconds");
  r.sizeBytes = getInt(doc, "size_bytes");
  bson_t storage;
  if (getDocument(doc, "storage", storage)) {
    StoredObject s{getString(&storage, "provider"), getString(&storage, "bucket"), getString(&storage, "key"),
                   getString(&storage, "storage_class")};
    if (!s.key.empty()) r.storage = std::move(s);
  }
  return r;
}

void appendRecording(bson_t* doc, const Recording& r) {
  putString(doc, "_id", r.id);
  putString(doc, "id", r.id);
  putString(doc, "tenant_id", r.tenantId);
  putString(doc, "room_id", r.roomId);
  putString(doc, "status", statusName(r.status));
  if (!r.source.empty()) putString(doc, "source", r.source);
  // Absent, not empty: the unique sparse index skips documents without the field.
  if (!r.providerRecordingId.empty()) putString(doc, "provider_recording_id", r.providerRecordingId);
  if (!r.failureReason.empty()) putString(doc, "failure_reason", r.failureReason);
  if (r.startedAt) putDate(doc, "started_at", *r.startedAt);
  if (r.stoppedAt) putDate(doc, "stopped_at", *r.stoppedAt);
  if (r.readyAt) putDate(doc, "ready_at", *r.readyAt);
  if (r.archivedAt) putDate(doc, "archived_at", *r.archivedAt);
  if (r.deletedAt) putDate(doc, "deleted_at", *r.deletedAt);
  if (r.recoverRequestedAt) putDate(doc, "recover_requested_at", *r.recoverRequestedAt);
  putDate(doc, "created_at", r.createdAt);
  putDate(doc, "updated_at", r.updatedAt);
  if (r.durationSeconds) bson_append_double(doc, "duration_seconds", -1, *r.durationSeconds);
  if (r.sizeBytes) bson_append_int64(doc, "size_bytes", -1, *r.sizeBytes);
  if (r.storage) appendStorage(doc, "storage", *r.storage);
}

RecordingStore::RecordingStore(MongoClient& mongo, RecordingCollections names)
    : mongo_(mongo), names_(std::move(names)) {
  names_.database = mongo.databaseName();
}

std::string RecordingStore::ensureIndexes(mongoc_client_t* client, const RecordingCollections& names) {
  struct Spec {
    const char* name;
    std::vector<std::pair<const char*, int>> keys;
    bool unique;
  };
  const Spec specs[] = {
      {"active_room_unique", {{"active_room", 1}}, true},
      {"provider_recording_id_unique", {{"provider_recording_id", 1}}, true},
      {"tenant_created", {{"tenant_id", 1}, {"created_at", -1}}, false},
      {"tenant_room_status", {{"tenant_id", 1}, {"room_id", 1}, {"status", 1}}, false},
      {"status_id", {{"status", 1}, {"_id", 1}}, false},
  };
  for (const Spec& s : specs) {
    std::string error = createIndex(client, names, s.name, s.keys, s.unique);
    if (!error.empty()) return error;
  }
  return {};
}

std::optional<Room> RecordingStore::findRoom(mongoc_client_t* client, const RecordingCollections& names,
                                             const std::string& tenantId, const std::string& roomId,
                                             std::string& error) {
  auto coll = collection(client, names, names.rooms);
  ScopedBson filter, opts;
  putString(filter.get(), "id", roomId);
  putString(filter.get(), "tenant_id", tenantId);
  BSON_APPEND_INT64(opts.get(), "limit", 1);
  BSON_APPEND_INT64(opts.get(), "maxTimeMS", kMaxTimeMs);
  std::optional<Room> room;
  findMany(
      coll.get(), filter.get(), opts.get(),
      [&](const bson_t* doc) {
        room = Room{getString(doc, "id"), getString(doc, "tenant_id"), getString(doc, "name")};
      },
      error);
  return room;
}

bool RecordingStore::roomIdShared(mongoc_client_t* client, const RecordingCollections& names,
                                  const std::string& tenantId, const std::string& roomId,
                                  std::string& error) {
  auto coll = collection(client, names, names.rooms);
  ScopedBson filter, opts;
  bson_t notThisTenant;
  putString(filter.get(), "id", roomId);
  bson_append_document_begin(filter.get(), "tenant_id", -1, &notThisTenant);
  putString(&notThisTenant, "$ne", tenantId);
  bson_append_document_end(filter.get(), &notThisTenant);
  BSON_APPEND_INT64(opts.get(), "limit", 1);
  BSON_APPEND_INT64(opts.get(), "maxTimeMS", kMaxTimeMs);
  bool shared = false;
  findMany(coll.get(), filter.get(), opts.get(), [&](const bson_t*) { shared = true; }, error);
  return shared && error.empty();
}

StoreResult RecordingStore::start(mongoc_client_t* client, const RecordingCollections& names,
                                  const std::string& tenantId, const std::string& roomId,
                                  const std::string& newId, TimePoint now) {
  std::string error;
  auto room = findRoom(client, names, tenantId, roomId, error);
  if (!error.empty()) return StoreResult::unavailable(error);
  if (!room) return {StoreOutcome::kNoRoom, {}, {}, {}};
  Recording rec;
  rec.id = newId;
  rec.tenantId = tenantId;
  rec.roomId = roomId;
  rec.status = RecordingStatus::kRecording;
  rec.source = "api";
  rec.startedAt = now;
  rec.createdAt = now;
  rec.updatedAt = now;
  auto coll = collection(client, names, names.recordings);
  std::string key = activeRoomKey(tenantId, roomId);
  switch (insertRecording(coll.get(), rec, key, error)) {
    case Insert::kOk:
      return {StoreOutcome::kOk, std::move(rec), std::move(room), {}};
    case Insert::kError:
      return StoreResult::unavailable(error);
    case Insert::kDuplicate:
      break;
  }
  ScopedBson filter;
  putString(filter.get(), "active_room", key);
  auto active = findOneRecording(coll.get(), filter.get(), error);
  if (!error.empty()) return StoreResult::unavailable(error);
  // The active one stopped between our insert and this read: still a lost race.
  return {StoreOutcome::kConflict, std::move(active), std::move(room), {}};
}

StoreResult RecordingStore::stop(mongoc_client_t* client, const RecordingCollections& names,
                                 const std::string& tenantId, const std::string& roomId, TimePoint now) {
  std::string error;
  auto room = findRoom(client, names, tenantId, roomId, error);
  if (!error.empty()) return StoreResult::unavailable(error);
  if (!room) return {StoreOutcome::kNoRoom, {}, {}, {}};
  auto coll = collection(client, names, names.recordings);
  ScopedBson filter;
  putString(filter.get(), "tenant_id", tenantId);
  putString(filter.get(), "room_id", roomId);
  putString(filter.get(), "status", statusName(RecordingStatus::kRecording));
  appendNotDeleted(filter.get());
  auto active = findOneRecording(coll.get(), filter.get(), error);
  if (!error.empty()) return StoreResult::unavailable(error);
  if (!active) return {StoreOutcome::kNotFound, {}, std::move(room), {}};
  TransitionUpdate update;
  update.to = RecordingStatus::kProcessing;
  update.stoppedAt = now;
  if (active->startedAt) {
    update.durationSeconds = std::max(0.0, std::chrono::duration<double>(now - *active->startedAt).count());
  }
  StoreResult result =
      transition(client, names, tenantId, active->id, RecordingStatus::kRecording, update, now);
  // Someone else stopped it first: for this caller nothing is recording any more.
  if (result.outcome == StoreOutcome::kConflict) result = {StoreOutcome::kNotFound, {}, {}, {}};
  result.room = std::move(room);
  return result;
}

StoreResult RecordingStore::get(mongoc_client_t* client, const RecordingCollections& names,
                                const std::string& tenantId, const std::string& id, bool withRoom) {
  auto coll = collection(client, names, names.recordings);
  ScopedBson filter;
  appendIdFilter(filter.get(), tenantId, id);
  appendNotDeleted(filter.get());
  std::string error;
  auto rec = findOneRecording(coll.get(), filter.get(), error);
  if (!error.empty()) return StoreResult::unavailable(error);
  if (!rec) return {StoreOutcome::kNotFound, {}, {}, {}};
  std::optional<Room> room;
  if (withRoom) {
    room = findRoom(client, names, rec->tenantId, rec->roomId, error);
    if (!error.empty()) return StoreResult::unavailable(error);
  }
  return {StoreOutcome::kOk, std::move(rec), std::move(room), {}};
}

RecordingPage RecordingStore::list(mongoc_client_t* client, const RecordingCollections& names,
                                   const std::string& tenantId, int64_t limit, int64_t offset) {
  auto coll = collection(client, names, names.recordings);
  ScopedBson filter, opts, countOpts;
  putString(filter.get(), "tenant_id", tenantId);
  appendNotDeleted(filter.get());
  bson_t sort;
  bson_append_document_begin(opts.get(), "sort", -1, &sort);
  bson_append_int32(&sort, "created_at", -1, -1);
  bson_append_int32(&sort, "_id", -1, -1);
  bson_append_document_end(opts.get(), &sort);
  BSON_APPEND_INT64(opts.get(), "skip", offset);
  BSON_APPEND_INT64(opts.get(), "limit", limit);
  BSON_APPEND_INT64(opts.get(), "maxTimeMS", kMaxTimeMs);
  RecordingPage page;
  if (!findMany(
          coll.get(), filter.get(), opts.get(),
          [&](const bson_t* doc) { page.items.push_back(recordingFromBson(doc)); }, page.error)) {
    return page;
  }
  BSON_APPEND_INT64(countOpts.get(), "maxTimeMS", kMaxTimeMs);
  bson_error_t err;
  int64_t total =
      mongoc_collection_count_documents(coll.get(), filter.get(), countOpts.get(), nullptr, nullptr, &err);
  if (total < 0) {
    page.error = err.message;
    return page;
  }
  page.total = total;
  return page;
}

StoreResult RecordingStore::transition(mongoc_client_t* client, const RecordingCollections& names,
                                       const std::string& tenantId, const std::string& id,
                                       RecordingStatus expected, const TransitionUpdate& u, TimePoint now) {
  if (u.to && !canTransition(expected, *u.to)) {
    return StoreResult::unavailable("invalid transition " + std::string(statusName(expected)) + " -> " +
                                    std::string(statusName(*u.to)));
  }
  auto coll = collection(client, names, names.recordings);
  ScopedBson query, update;
  appendIdFilter(query.get(), tenantId, id);
  putString(query.get(), "status", statusName(expected));
  appendNotDeleted(query.get());
  std::string error;
  std::string claimId;
  if (u.to) {
    // Only a recording that is in the state may claim the exit (a stranger's request for
    // an id must not block it).
    auto current = findOneRecording(coll.get(), query.get(), error);
    if (!error.empty()) return StoreResult::unavailable(error);
    if (!current) return conflictOrNotFound(coll.get(), tenantId, id);
    claimId = id + ":" + std::string(statusName(expected));
    auto stillThere = [&] {
      std::string err;
      return findOneRecording(coll.get(), query.get(), err).has_value();
    };
    std::string heldTo;
    switch (claimExit(client, names, claimId, *current, statusName(expected), statusName(*u.to), now,
                      stillThere, error, &heldTo)) {
      case Claim::kTaken:
        break;
      case Claim::kLost:
        // A run that claimed this very transition and did not finish (it crashed, or it is
        // finishing now): an idempotent transition completes it instead of waiting for the
        // claim to go stale. The claim stays theirs: nothing to release.
        if (!u.idempotent || heldTo != statusName(*u.to)) return conflictOrNotFound(coll.get(), tenantId, id);
        claimId.clear();
        break;
      case Claim::kError:
        return StoreResult::unavailable(error);
    }
  }
  bson_t set;
  bson_append_document_begin(update.get(), "$set", -1, &set);
  if (u.to) putString(&set, "status", statusName(*u.to));
  putDate(&set, "updated_at", now);
  if (u.stoppedAt) putDate(&set, "stopped_at", *u.stoppedAt);
  if (u.readyAt) putDate(&set, "ready_at", *u.readyAt);
  if (u.archivedAt) putDate(&set, "archived_at", *u.archivedAt);
  if (u.recoverRequestedAt) putDate(&set, "recover_requested_at", *u.recoverRequestedAt);
  if (u.durationSeconds) bson_append_double(&set, "duration_seconds", -1, *u.durationSeconds);
  if (u.sizeBytes) bson_append_int64(&set, "size_bytes", -1, *u.sizeBytes);
  if (u.storage) appendStorage(&set, "storage", *u.storage);
  if (u.failureReason) putString(&set, "failure_reason", *u.failureReason);
  if (u.providerRecordingId) putString(&set, "provider_recording_id", *u.providerRecordingId);
  bson_append_document_end(update.get(), &set);
  if (expected == RecordingStatus::kRecording && u.to) {
    bson_t unset;
    bson_append_document_begin(update.get(), "$unset", -1, &unset);
    putString(&unset, "active_room", "");
    bson_append_document_end(update.get(), &unset);
  }
  Recording after;
  switch (findAndModify(coll.get(), query.get(), nullptr, update.get(), after, error)) {
    case Modify::kMatched:
      return {StoreOutcome::kOk, std::move(after), {}, {}};
    case Modify::kError:
      if (!claimId.empty()) releaseClaim(client, names, claimId);
      return StoreResult::unavailable(error);
    case Modify::kNoMatch:
      break;
  }
  if (!claimId.empty()) releaseClaim(client, names, claimId);
  return conflictOrNotFound(coll.get(), tenantId, id);
}

StoreResult RecordingStore::softDelete(mongoc_client_t* client, const RecordingCollections& names,
                                       const std::string& tenantId, const std::string& id, TimePoint now) {
  auto coll = collection(client, names, names.recordings);
  ScopedBson query, update;
  appendIdFilter(query.get(), tenantId, id);
  appendNotDeleted(query.get());
  std::string error;
  auto current = findOneRecording(coll.get(), query.get(), error);
  if (!error.empty()) return StoreResult::unavailable(error);
  if (!current) return {StoreOutcome::kNotFound, {}, {}, {}};
  // Deleted at most once, like a state exit: concurrent deletes have one winner.
  std::string claimId = id + ":deleted";
  auto stillThere = [&] {
    std::string err;
    return findOneRecording(coll.get(), query.get(), err).has_value();
  };
  switch (claimExit(client, names, claimId, *current, statusName(current->status), "deleted", now, stillThere,
                    error)) {
    case Claim::kTaken:
      break;
    case Claim::kLost:
      return {StoreOutcome::kNotFound, {}, {}, {}};
    case Claim::kError:
      return StoreResult::unavailable(error);
  }
  bson_t set, unset;
  bson_append_document_begin(update.get(), "$set", -1, &set);
  putDate(&set, "deleted_at", now);
  putDate(&set, "updated_at", now);
  bson_append_document_end(update.get(), &set);
  // A deleted recording must not keep its room busy.
  bson_append_document_begin(update.get(), "$unset", -1, &unset);
  putString(&unset, "active_room", "");
  bson_append_document_end(update.get(), &unset);
  Recording after;
  switch (findAndModify(coll.get(), query.get(), nullptr, update.get(), after, error)) {
    case Modify::kMatched:
      return {StoreOutcome::kOk, std::move(after), {}, {}};
    case Modify::kError:
      releaseClaim(client, names, claimId);
      return StoreResult::unavailable(error);
    case Modify::kNoMatch:
      break;
  }
  releaseClaim(client, names, claimId);
  return {StoreOutcome::kNotFound, {}, {}, {}};
}

SyncResult RecordingStore::sync(mongoc_client_t* client, const RecordingCollections& names,
                                const std::string& tenantId, const std::string& roomId,
                                const std::vector<ProviderSnapshot>& snapshots,
                                std::chrono::seconds linkWindow, bool importUnknown, bool checkRoom,
                                TimePoint now) {
  std::string error;
  if (checkRoom) {
    auto room = findRoom(client, names, tenantId, roomId, error);
    if (!error.empty()) return SyncResult::unavailable(error);
    if (!room) return {StoreOutcome::kNoRoom, {}, {}, {}};
  }
  SyncResult result{StoreOutcome::kOk, {}, {}, {}};
  const std::string providerRoom = providerRoomId(tenantId, roomId);
  auto coll = collection(client, names, names.recordings);

  // Provider ids already known, in any tenant: a provider recording is imported once.
  std::set<std::string> known;
  auto isKnown = [&](const std::string& providerId) -> bool {
    if (known.count(providerId)) return true;
    ScopedBson filter;
    putString(filter.get(), "provider_recording_id", providerId);
    std::string err;
    auto found = findOneRecording(coll.get(), filter.get(), err);
    if (!err.empty()) error = err;
    if (found) known.insert(providerId);
    return found.has_value();
  };
  {
    ScopedBson filter, opts;
    bson_t cond, list;
    bson_append_document_begin(filter.get(), "provider_recording_id", -1, &cond);
    bson_append_array_begin(&cond, "$in", -1, &list);
    int i = 0;
    for (const auto& s : snapshots) {
      if (!s.providerId.empty()) putString(&list, std::to_string(i++).c_str(), s.providerId);
    }
    bson_append_array_end(&cond, &list);
    bson_append_document_end(filter.get(), &cond);
    BSON_APPEND_INT64(opts.get(), "maxTimeMS", kMaxTimeMs);
    if (!findMany(
            coll.get(), filter.get(), opts.get(),
            [&](const bson_t* doc) { known.insert(getString(doc, "provider_recording_id")); }, error)) {
      return SyncResult::unavailable(error);
    }
  }

  // Local recordings of this room still waiting for their provider recording.
  std::vector<Recording> candidates;
  {
    ScopedBson filter, opts;
    putString(filter.get(), "tenant_id", tenantId);
    putString(filter.get(), "room_id", roomId);
    appendExists(filter.get(), "provider_recording_id", false);
    appendStatusIn(filter.get(), {RecordingStatus::kRecording, RecordingStatus::kProcessing});
    appendNotDeleted(filter.get());
    BSON_APPEND_INT64(opts.get(), "limit", kMaxLinkCandidates);
    BSON_APPEND_INT64(opts.get(), "maxTimeMS", kMaxTimeMs);
    if (!findMany(
            coll.get(), filter.get(), opts.get(),
            [&](const bson_t* doc) { candidates.push_back(recordingFromBson(doc)); }, error)) {
      return SyncResult::unavailable(error);
    }
  }

  for (const ProviderSnapshot& snap : snapshots) {
    if (snap.providerId.empty() || known.count(snap.providerId)) continue;
    // Only what the provider files under this tenant's room is the tenant's. Without a room,
    // or under the bare room id, it may be another tenant's room of the same id.
    if (snap.roomId != providerRoom) {
      result.refused.push_back(snap.providerId);
      continue;
    }
    ProviderSnapshot inRoom = snap;
    inRoom.roomId = roomId;

    if (auto match = matchLocalRecording(inRoom, candidates, linkWindow)) {
      Recording local = candidates[*match];
      candidates.erase(candidates.begin() + static_cast<std::ptrdiff_t>(*match));
      ScopedBson query, update;
      putString(query.get(), "_id", local.id);
      appendExists(query.get(), "provider_recording_id", false);
      appendNotDeleted(query.get());
      bson_t set;
      bson_append_document_begin(update.get(), "$set", -1, &set);
      putString(&set, "provider_recording_id", snap.providerId);
      putDate(&set, "updated_at", now);
      bson_append_document_end(update.get(), &set);
      Recording after;
      switch (findAndModify(coll.get(), query.get(), nullptr, update.get(), after, error)) {
        case Modify::kMatched:
          known.insert(snap.providerId);
          result.synced.push_back(std::move(after));
          continue;
        case Modify::kNoMatch:
          break;  // linked meanwhile (to this or another provider recording)
        case Modify::kError:
          // A duplicate key: another sync linked or imported this provider recording first.
          if (isKnown(snap.providerId)) continue;
          return SyncResult::unavailable(error);
      }
      if (isKnown(snap.providerId)) continue;
      if (!error.empty()) return SyncResult::unavailable(error);
    }
    if (!importUnknown) continue;

    Recording rec;
    rec.id = newRecordingId();
    rec.tenantId = tenantId;
    rec.roomId = roomId;
    rec.source = "provider";
    rec.providerRecordingId = snap.providerId;
    rec.status = snap.status.value_or(RecordingStatus::kProcessing);
    // "ready" without an object to point at would offer a download of nothing.
    if ((rec.status == RecordingStatus::kReady || rec.status == RecordingStatus::kArchived) &&
        !snap.storage) {
      rec.status = RecordingStatus::kProcessing;
    }
    rec.startedAt = snap.startedAt.value_or(now);
    rec.stoppedAt = snap.stoppedAt;
    rec.durationSeconds = snap.durationSeconds;
    rec.sizeBytes = snap.sizeBytes;
    rec.storage = snap.storage;
    if (rec.status == RecordingStatus::kReady) rec.readyAt = now;
    if (rec.status == RecordingStatus::kFailed) rec.failureReason = snap.failureReason;
    rec.createdAt = now;
    rec.updatedAt = now;
    std::string activeRoom = rec.status == RecordingStatus::kRecording ? activeRoomKey(tenantId, roomId) : "";
    Insert inserted = insertRecording(coll.get(), rec, activeRoom, error);
    if (inserted == Insert::kDuplicate) {
      if (isKnown(snap.providerId)) continue;
      if (!error.empty()) return SyncResult::unavailable(error);
      // The room already has an active recording of ours: import this one without
      // claiming the room.
      if (!activeRoom.empty()) inserted = insertRecording(coll.get(), rec, "", error);
      if (inserted == Insert::kDuplicate) {
        if (isKnown(snap.providerId)) continue;
        return SyncResult::unavailable("duplicate key importing provider recording " + snap.providerId);
      }
    }
    if (inserted == Insert::kError) return SyncResult::unavailable(error);
    known.insert(snap.providerId);
    result.synced.push_back(std::move(rec));
  }
  return result;
}

RecordingPage RecordingStore::pollBatch(mongoc_client_t* client, const RecordingCollections& names,
                                        bool linked, const std::string& afterId, int64_t limit) {
  auto coll = collection(client, names, names.recordings);
  ScopedBson filter, opts;
  if (linked) {
    appendStatusIn(filter.get(), {RecordingStatus::kRecording, RecordingStatus::kProcessing});
  } else {
    putString(filter.get(), "status", statusName(RecordingStatus::kProcessing));
  }
  appendExists(filter.get(), "provider_recording_id", linked);
  appendNotDeleted(filter.get());
  if (!afterId.empty()) {
    bson_t cond;
    bson_append_document_begin(filter.get(), "_id", -1, &cond);
    putString(&cond, "$gt", afterId);
    bson_append_document_end(filter.get(), &cond);
  }
  bson_t sort;
  bson_append_document_begin(opts.get(), "sort", -1, &sort);
  bson_append_int32(&sort, "_id", -1, 1);
  bson_append_document_end(opts.get(), &sort);
  BSON_APPEND_INT64(opts.get(), "limit", limit);
  BSON_APPEND_INT64(opts.get(), "maxTimeMS", kMaxTimeMs);
  RecordingPage page;
  findMany(
      coll.get(), filter.get(), opts.get(),
      [&](const bson_t* doc) { page.items.push_back(recordingFromBson(doc)); }, page.error);
  page.total = static_cast<int64_t>(page.items.size());
  return page;
}

}  // namespace recgw::storage

// ---- the streamed archive's journal -------------------------------------------------

namespace recgw::storage {

std::string archiveUploadJournalId(std::string_view recordingId) {
  return std::string(recordingId) + ":archive_upload";
}

ArchiveUpload archiveUploadFromBson(const bson_t* doc) {
  using namespace fields;
  ArchiveUpload u;
  u.recordingId = getString(doc, "recording_id");
  u.tenantId = getString(doc, "tenant_id");
  u.owner = getString(doc, "owner");
  u.target = getString(doc, "target");
  u.key = getString(doc, "key");
  u.uploadId = getString(doc, "upload_id");
  u.sourceEtag = getString(doc, "source_etag");
  u.size = static_cast<uint64_t>(std::max<int64_t>(0, getInt(doc, "size").value_or(0)));
  u.partBytes = static_cast<uint64_t>(std::max<int64_t>(0, getInt(doc, "part_bytes").value_or(0)));
  u.heartbeatAt = getDate(doc, "heartbeat_at").value_or(TimePoint{});
  bson_iter_t it, child;
  if (bson_iter_init_find(&it, doc, "parts") && BSON_ITER_HOLDS_ARRAY(&it) &&
      bson_iter_recurse(&it, &child)) {
    while (bson_iter_next(&child)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&child)) continue;
      uint32_t len = 0;
      const uint8_t* data = nullptr;
      bson_iter_document(&child, &len, &data);
      bson_t part;
      if (!bson_init_static(&part, data, len)) continue;
      ArchiveUploadPart p;
      p.number = static_cast<int>(getInt(&part, "n").value_or(0));
      p.size = static_cast<uint64_t>(std::max<int64_t>(0, getInt(&part, "size").value_or(0)));
      p.md5Hex = getString(&part, "md5");
      if (p.number > 0 && p.md5Hex.size() == 32) u.parts.push_back(std::move(p));
    }
  }
  std::sort(u.parts.begin(), u.parts.end(), [](const auto& a, const auto& b) { return a.number < b.number; });
  return u;
}

void appendArchiveUpload(bson_t* doc, const ArchiveUpload& u) {
  using namespace fields;
  putString(doc, "recording_id", u.recordingId);
  putString(doc, "tenant_id", u.tenantId);
  putString(doc, "owner", u.owner);
  putString(doc, "target", u.target);
  putString(doc, "key", u.key);
  putString(doc, "upload_id", u.uploadId);
  putString(doc, "source_etag", u.sourceEtag);
  BSON_APPEND_INT64(doc, "size", static_cast<int64_t>(u.size));
  BSON_APPEND_INT64(doc, "part_bytes", static_cast<int64_t>(u.partBytes));
  putDate(doc, "heartbeat_at", u.heartbeatAt);
  bson_t parts;
  bson_append_array_begin(doc, "parts", -1, &parts);
  size_t i = 0;
  for (const auto& p : u.parts) {
    std::string index = std::to_string(i++);
    bson_t part;
    bson_append_document_begin(&parts, index.c_str(), -1, &part);
    BSON_APPEND_INT32(&part, "n", p.number);
    BSON_APPEND_INT64(&part, "size", static_cast<int64_t>(p.size));
    putString(&part, "md5", p.md5Hex);
    bson_append_document_end(&parts, &part);
  }
  bson_append_array_end(doc, &parts);
}

namespace {

// findAndModify on the journal, returning the document after; false with `error` set when
// MongoDB failed, true with found=false when nothing matched.
bool modifyJournal(mongoc_collection_t* coll, const bson_t* query, const bson_t* update,
                   std::optional<ArchiveUpload>& after, std::string& error) {
  ScopedBson reply;
  bson_error_t err;
  if (!mongoc_collection_find_and_modify(coll, query, nullptr, update, nullptr, false, false, true,
                                         reply.get(), &err)) {
    error = err.message;
    return false;
  }
  bson_t value;
  if (fields::getDocument(reply.get(), "value", value)) after = archiveUploadFromBson(&value);
  return true;
}

}  // namespace

ArchiveClaim RecordingStore::claimArchiveUpload(mongoc_client_t* client, const RecordingCollections& names,
                                                const ArchiveUpload& mine, std::chrono::seconds stale,
                                                TimePoint now) {
  auto coll = collection(client, names, names.transitions);
  std::string id = archiveUploadJournalId(mine.recordingId);
  ArchiveUpload fresh = mine;
  fresh.heartbeatAt = now;
  ScopedBson doc;
  fields::putString(doc.get(), "_id", id);
  appendArchiveUpload(doc.get(), fresh);
  bson_error_t err;
  if (mongoc_collection_insert_one(coll.get(), doc.get(), nullptr, nullptr, &err)) {
    return {ArchiveClaim::Kind::kTaken, {}, {}};
  }
  if (err.code != kDuplicateKey) return ArchiveClaim::unavailable(err.message);
  // Someone's journal: alive (fresh heartbeat) or left by a run that died.
  ScopedBson filter, opts;
  fields::putString(filter.get(), "_id", id);
  BSON_APPEND_INT64(opts.get(), "limit", 1);
  std::optional<ArchiveUpload> held;
  std::string error;
  if (!findMany(
          coll.get(), filter.get(), opts.get(), [&](const bson_t* d) { held = archiveUploadFromBson(d); },
          error)) {
    return ArchiveClaim::unavailable(error);
  }
  if (!held) return ArchiveClaim::unavailable("the archive journal vanished while being claimed; retry");
  if (held->heartbeatAt + stale > now) return {ArchiveClaim::Kind::kBusy, held, {}};
  // Take it over: only if it is still the same owner's with the same heartbeat, so of two
  // takers one wins.
  ScopedBson query, update;
  fields::putString(query.get(), "_id", id);
  fields::putString(query.get(), "owner", held->owner);
  fields::putDate(query.get(), "heartbeat_at", held->heartbeatAt);
  bson_t set;
  bson_append_document_begin(update.get(), "$set", -1, &set);
  fields::putString(&set, "owner", mine.owner);
  fields::putDate(&set, "heartbeat_at", now);
  bson_append_document_end(update.get(), &set);
  std::optional<ArchiveUpload> after;
  if (!modifyJournal(coll.get(), query.get(), update.get(), after, error))
    return ArchiveClaim::unavailable(error);
  if (!after || after->owner != mine.owner) return {ArchiveClaim::Kind::kBusy, held, {}};
  return {ArchiveClaim::Kind::kTaken, held, {}};
}

std::string RecordingStore::saveArchiveUpload(mongoc_client_t* client, const RecordingCollections& names,
                                              const ArchiveUpload& upload, TimePoint now) {
  auto coll = collection(client, names, names.transitions);
  ArchiveUpload u = upload;
  u.heartbeatAt = now;
  ScopedBson query, update;
  fields::putString(query.get(), "_id", archiveUploadJournalId(u.recordingId));
  fields::putString(query.get(), "owner", u.owner);
  bson_t set;
  bson_append_document_begin(update.get(), "$set", -1, &set);
  appendArchiveUpload(&set, u);
  bson_append_document_end(update.get(), &set);
  std::optional<ArchiveUpload> after;
  std::string error;
  if (!modifyJournal(coll.get(), query.get(), update.get(), after, error)) return error;
  if (!after || after->owner != u.owner) return "lost";
  return {};
}

std::string RecordingStore::releaseArchiveUpload(mongoc_client_t* client, const RecordingCollections& names,
                                                 const std::string& recordingId, const std::string& owner) {
  auto coll = collection(client, names, names.transitions);
  ScopedBson filter;
  fields::putString(filter.get(), "_id", archiveUploadJournalId(recordingId));
  fields::putString(filter.get(), "owner", owner);
  bson_error_t err;
  if (!mongoc_collection_delete_one(coll.get(), filter.get(), nullptr, nullptr, &err)) return err.message;
  return {};
}

ArchiveUploadList RecordingStore::staleArchiveUploads(mongoc_client_t* client,
                                                      const RecordingCollections& names,
                                                      std::chrono::seconds stale, TimePoint now,
                                                      int64_t limit) {
  auto coll = collection(client, names, names.transitions);
  ScopedBson filter, opts;
  bson_t lt, sort;
  bson_append_document_begin(filter.get(), "heartbeat_at", -1, &lt);
  fields::putDate(&lt, "$lt", now - stale);
  bson_append_document_end(filter.get(), &lt);
  bson_append_document_begin(opts.get(), "sort", -1, &sort);
  BSON_APPEND_INT32(&sort, "heartbeat_at", 1);
  bson_append_document_end(opts.get(), &sort);
  BSON_APPEND_INT64(opts.get(), "limit", limit);
  ArchiveUploadList out;
  std::string error;
  if (!findMany(
          coll.get(), filter.get(), opts.get(),
          [&](const bson_t* d) { out.items.push_back(archiveUploadFromBson(d)); }, error)) {
    return ArchiveUploadList::unavailable(error);
  }
  return out;
}

}  // namespace recgw::storage
