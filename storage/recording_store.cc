#include "storage/recording_store.h"

#include <algorithm>

#include "storage/recording_store_bson.h"
#include "storage/recording_store_claims.h"

// The store: rooms and recordings read, started, stopped, moved on and deleted. The status
// machine is in recording_store_status.cc, the documents in recording_store_bson.cc, the
// exit claims in recording_store_claims.cc, sync in recording_store_sync.cc and the archive
// journal in recording_store_journal.cc.

namespace recgw::storage {

using namespace store_detail;

namespace {

// Adds {$unset: {active_room: ""}} to an update: the room may start another recording.
void freeRoom(bson_t* update) {
  bson_t unset;
  bson_append_document_begin(update, "$unset", -1, &unset);
  putString(&unset, "active_room", "");
  bson_append_document_end(update, &unset);
}

}  // namespace

RecordingStore::RecordingStore(MongoClient& mongo, RecordingCollections names)
    : mongo_(mongo), names_(std::move(names)) {
  names_.database = mongo.databaseName();
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
  // Taken for a status change (not for a touch); released on every way out but a match.
  MongoClaimLedger ledger(client, names);
  std::optional<ExitClaim> claim;
  if (u.to) {
    // Only a recording that is in the state may claim the exit (a stranger's request for
    // an id must not block it).
    auto current = findOneRecording(coll.get(), query.get(), error);
    if (!error.empty()) return StoreResult::unavailable(error);
    if (!current) return conflictOrNotFound(coll.get(), tenantId, id);
    auto stillThere = [&] {
      std::string err;
      return findOneRecording(coll.get(), query.get(), err).has_value();
    };
    claim.emplace(ledger, id + ":" + std::string(statusName(expected)), *current, statusName(expected),
                  statusName(*u.to), now, stillThere);
    switch (claim->state()) {
      case ExitClaim::State::kTaken:
        break;
      case ExitClaim::State::kLost:
        // A run that claimed this very transition and did not finish (it crashed, or it is
        // finishing now): an idempotent transition completes it instead of waiting for the
        // claim to go stale. The claim stays theirs.
        if (!u.idempotent || claim->heldTo() != statusName(*u.to))
          return conflictOrNotFound(coll.get(), tenantId, id);
        break;
      case ExitClaim::State::kError:
        return StoreResult::unavailable(claim->error());
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
    freeRoom(update.get());
  }
  Recording after;
  switch (findAndModify(coll.get(), query.get(), nullptr, update.get(), after, error)) {
    case Modify::kMatched:
      if (claim) claim->commit();
      return {StoreOutcome::kOk, std::move(after), {}, {}};
    case Modify::kError:
      return StoreResult::unavailable(error);
    case Modify::kNoMatch:
      break;
  }
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
  auto stillThere = [&] {
    std::string err;
    return findOneRecording(coll.get(), query.get(), err).has_value();
  };
  MongoClaimLedger ledger(client, names);
  ExitClaim claim(ledger, id + ":deleted", *current, statusName(current->status), "deleted", now, stillThere);
  switch (claim.state()) {
    case ExitClaim::State::kTaken:
      break;
    case ExitClaim::State::kLost:
      return {StoreOutcome::kNotFound, {}, {}, {}};
    case ExitClaim::State::kError:
      return StoreResult::unavailable(claim.error());
  }
  bson_t set;
  bson_append_document_begin(update.get(), "$set", -1, &set);
  putDate(&set, "deleted_at", now);
  putDate(&set, "updated_at", now);
  bson_append_document_end(update.get(), &set);
  freeRoom(update.get());  // a deleted recording must not keep its room busy
  Recording after;
  switch (findAndModify(coll.get(), query.get(), nullptr, update.get(), after, error)) {
    case Modify::kMatched:
      claim.commit();
      return {StoreOutcome::kOk, std::move(after), {}, {}};
    case Modify::kError:
      return StoreResult::unavailable(error);
    case Modify::kNoMatch:
      break;
  }
  return {StoreOutcome::kNotFound, {}, {}, {}};
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
