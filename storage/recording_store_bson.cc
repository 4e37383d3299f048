#include "storage/recording_store_bson.h"

#include <algorithm>

// The recording store's BSON: its query helpers, Recording <-> document, and the streamed
// archive's journal <-> document.

namespace recgw::storage {
namespace store_detail {

void appendStorage(bson_t* doc, const char* key, const StoredObject& s) {
  bson_t sub;
  bson_append_document_begin(doc, key, -1, &sub);
  putString(&sub, "provider", s.provider);
  putString(&sub, "bucket", s.bucket);
  putString(&sub, "key", s.key);
  if (!s.storageClass.empty()) putString(&sub, "storage_class", s.storageClass);
  bson_append_document_end(doc, &sub);
}

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

MongocCollectionPtr collection(mongoc_client_t* client, const RecordingCollections& names,
                               const std::string& name) {
  return MongocCollectionPtr(mongoc_client_get_collection(client, names.database.c_str(), name.c_str()));
}

std::optional<Recording> findOneRecording(mongoc_collection_t* coll, const bson_t* filter,
                                          std::string& error) {
  ScopedBson opts;
  BSON_APPEND_INT64(opts.get(), "limit", 1);
  BSON_APPEND_INT64(opts.get(), "maxTimeMS", kMaxTimeMs);
  std::optional<Recording> found;
  findMany(coll, filter, opts.get(), [&](const bson_t* doc) { found = recordingFromBson(doc); }, error);
  return found;
}

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

void appendIdFilter(bson_t* filter, const std::string& tenantId, const std::string& id) {
  putString(filter, "_id", id);
  if (!tenantId.empty()) putString(filter, "tenant_id", tenantId);
}

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

}  // namespace store_detail

using namespace store_detail;

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

}  // namespace recgw::storage
