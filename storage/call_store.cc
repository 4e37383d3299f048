#include "storage/call_store.h"

#include <algorithm>

#include "storage/bson_fields.h"
#include "storage/crypto.h"
#include "storage/iso_time.h"
#include "storage/recording_key.h"

namespace recgw::storage {
namespace {

using fields::getString;

CallRecord recordFromDocument(const bson_t* doc) {
  CallRecord record;
  std::string key = getString(doc, "recording_key");
  std::string url = getString(doc, "recording_url");
  record.hasRecordingKey = !key.empty();
  record.hasRecordingUrl = !url.empty();
  record.sessionId = getString(doc, "session_id");
  record.accountId = getString(doc, "account_id");
  record.recordingStatus = getString(doc, "recording_status");
  record.accessToken = getString(doc, "recording_access_token");
  record.recordingDeleted =
      fields::getDate(doc, "deleted_at").has_value() || !getString(doc, "deleted_at").empty();
  if (auto expires = fields::getDate(doc, "recording_access_expires_at")) {
    record.accessExpiresAtMs = std::max<int64_t>(1, fields::toMillis(*expires));
  } else if (std::string text = getString(doc, "recording_access_expires_at"); !text.empty()) {
    // Written by hand or by another service as an ISO 8601 string.
    if (auto parsed = parseIsoInstant(text))
      record.accessExpiresAtMs = std::max<int64_t>(1, fields::toMillis(*parsed));
  }
  if (auto derived = deriveRecordingKey(key, url)) {
    record.outcome = CallRecord::Outcome::kFound;
    record.key = derived->key;
    record.keyDerivation = derived->how;
  } else {
    record.outcome = CallRecord::Outcome::kNoKey;
  }
  return record;
}

void appendProjection(bson_t* opts) {
  bson_t projection;
  BSON_APPEND_DOCUMENT_BEGIN(opts, "projection", &projection);
  for (const char* f : {"recording_key", "recording_url", "recording_status", "account_id", "session_id",
                        "recording_access_token", "recording_access_expires_at", "deleted_at"}) {
    BSON_APPEND_INT32(&projection, f, 1);
  }
  bson_append_document_end(opts, &projection);
}

}  // namespace

WarmBatch CallStore::findManyBlocking(mongoc_client_t* client, const std::string& database,
                                      const std::string& collection, LookupField field,
                                      const std::vector<std::string>& values, size_t batchSize) {
  WarmBatch out;
  if (!client) {
    out.error = "no MongoDB client available";
    return out;
  }
  MongocCollectionPtr coll(mongoc_client_get_collection(client, database.c_str(), collection.c_str()));
  const char* fieldName = field == LookupField::kToken ? "recording_access_token" : "session_id";
  for (size_t start = 0; start < values.size(); start += batchSize) {
    size_t end = std::min(values.size(), start + batchSize);
    ScopedBson filter, opts;
    bson_t cond, list;
    BSON_APPEND_DOCUMENT_BEGIN(filter.get(), fieldName, &cond);
    BSON_APPEND_ARRAY_BEGIN(&cond, "$in", &list);
    for (size_t i = start; i < end; ++i) {
      std::string idx = std::to_string(i - start);
      bson_append_utf8(&list, idx.c_str(), -1, values[i].c_str(), static_cast<int>(values[i].size()));
    }
    bson_append_array_end(&cond, &list);
    bson_append_document_end(filter.get(), &cond);
    appendProjection(opts.get());
    MongocCursorPtr cursor(mongoc_collection_find_with_opts(coll.get(), filter.get(), opts.get(), nullptr));
    const bson_t* doc = nullptr;
    size_t foundHere = 0;
    while (mongoc_cursor_next(cursor.get(), &doc)) {
      std::string value = getString(doc, fieldName);
      out.found.push_back({field, value, recordFromDocument(doc)});
      ++foundHere;
    }
    bson_error_t error;
    if (mongoc_cursor_error(cursor.get(), &error)) {
      out.error = error.message;
      return out;
    }
    out.missing += (end - start) - std::min(foundHere, end - start);
  }
  return out;
}

WarmBatch CallStore::findSinceBlocking(mongoc_client_t* client, const std::string& database,
                                       const std::string& collection,
                                       std::chrono::system_clock::time_point since, size_t limit,
                                       std::optional<std::chrono::system_clock::time_point> until) {
  WarmBatch out;
  if (!client) {
    out.error = "no MongoDB client available";
    return out;
  }
  MongocCollectionPtr coll(mongoc_client_get_collection(client, database.c_str(), collection.c_str()));
  ScopedBson filter, opts;
  bson_t cond, sort;
  BSON_APPEND_DOCUMENT_BEGIN(filter.get(), "created_at", &cond);
  BSON_APPEND_DATE_TIME(
      &cond, "$gte", std::chrono::duration_cast<std::chrono::milliseconds>(since.time_since_epoch()).count());
  if (until) {
    BSON_APPEND_DATE_TIME(
        &cond, "$lt",
        std::chrono::duration_cast<std::chrono::milliseconds>(until->time_since_epoch()).count());
  }
  bson_append_document_end(filter.get(), &cond);
  appendProjection(opts.get());
  BSON_APPEND_DOCUMENT_BEGIN(opts.get(), "sort", &sort);
  BSON_APPEND_INT32(&sort, "created_at", -1);
  bson_append_document_end(opts.get(), &sort);
  BSON_APPEND_INT64(opts.get(), "limit", static_cast<int64_t>(limit));
  MongocCursorPtr cursor(mongoc_collection_find_with_opts(coll.get(), filter.get(), opts.get(), nullptr));
  const bson_t* doc = nullptr;
  while (mongoc_cursor_next(cursor.get(), &doc)) {
    CallRecord record = recordFromDocument(doc);
    std::string token = getString(doc, "recording_access_token");
    if (!token.empty()) out.found.push_back({LookupField::kToken, token, record});
    if (!record.sessionId.empty()) out.found.push_back({LookupField::kSessionId, record.sessionId, record});
  }
  bson_error_t error;
  if (mongoc_cursor_error(cursor.get(), &error)) out.error = error.message;
  return out;
}

bool CallStore::rotateTokenBlocking(mongoc_client_t* client, const std::string& database,
                                    const std::string& collection, const std::string& sessionId,
                                    const std::string& token, std::string& previous, std::string& error,
                                    int64_t expiresAtMs) {
  if (!client) {
    error = "no MongoDB client available";
    return false;
  }
  MongocCollectionPtr coll(mongoc_client_get_collection(client, database.c_str(), collection.c_str()));
  ScopedBson query, update, reply;
  bson_append_utf8(query.get(), "session_id", -1, sessionId.c_str(), static_cast<int>(sessionId.size()));
  bson_t set;
  BSON_APPEND_DOCUMENT_BEGIN(update.get(), "$set", &set);
  bson_append_utf8(&set, "recording_access_token", -1, token.c_str(), static_cast<int>(token.size()));
  if (expiresAtMs > 0) BSON_APPEND_DATE_TIME(&set, "recording_access_expires_at", expiresAtMs);
  bson_append_document_end(update.get(), &set);
  if (expiresAtMs <= 0) {
    bson_t unset;
    BSON_APPEND_DOCUMENT_BEGIN(update.get(), "$unset", &unset);
    BSON_APPEND_UTF8(&unset, "recording_access_expires_at", "");
    bson_append_document_end(update.get(), &unset);
  }
  bson_error_t err;
  // Returns the document as it was, so the caller can evict the old token.
  if (!mongoc_collection_find_and_modify(coll.get(), query.get(), nullptr, update.get(), nullptr, false,
                                         false, false, reply.get(), &err)) {
    error = err.message;
    return false;
  }
  bson_t before;
  if (!fields::getDocument(reply.get(), "value", before)) return false;
  previous = getString(&before, "recording_access_token");
  return true;
}

bool CallStore::revokeTokenBlocking(mongoc_client_t* client, const std::string& database,
                                    const std::string& collection, const std::string& revokedCollection,
                                    const std::string& sessionId, std::string& previous,
                                    std::string& storageKey, std::string& error) {
  if (!client) {
    error = "no MongoDB client available";
    return false;
  }
  MongocCollectionPtr coll(mongoc_client_get_collection(client, database.c_str(), collection.c_str()));
  ScopedBson query, update, reply;
  bson_append_utf8(query.get(), "session_id", -1, sessionId.c_str(), static_cast<int>(sessionId.size()));
  bson_t unset;
  BSON_APPEND_DOCUMENT_BEGIN(update.get(), "$unset", &unset);
  BSON_APPEND_UTF8(&unset, "recording_access_token", "");
  BSON_APPEND_UTF8(&unset, "recording_access_expires_at", "");
  bson_append_document_end(update.get(), &unset);
  bson_error_t err;
  if (!mongoc_collection_find_and_modify(coll.get(), query.get(), nullptr, update.get(), nullptr, false,
                                         false, false, reply.get(), &err)) {
    error = err.message;
    return false;
  }
  bson_t before;
  if (!fields::getDocument(reply.get(), "value", before)) return false;
  previous = getString(&before, "recording_access_token");
  auto derived = deriveRecordingKey(getString(&before, "recording_key"), getString(&before, "recording_url"));
  if (derived) storageKey = derived->key;
  if (previous.empty()) return true;
  // Filed after the call lost the token: a crash in between leaves the link answering 404
  // (unknown) rather than playing, and a retry of the DELETE finds no token to file.
  MongocCollectionPtr revoked(
      mongoc_client_get_collection(client, database.c_str(), revokedCollection.c_str()));
  ScopedBson selector, entry, opts;
  std::string hash = crypto::sha256Hex(previous);
  fields::putString(selector.get(), "_id", hash);
  bson_t set;
  BSON_APPEND_DOCUMENT_BEGIN(entry.get(), "$set", &set);
  fields::putString(&set, "session_id", sessionId);
  fields::putDate(&set, "revoked_at", std::chrono::system_clock::now());
  bson_append_document_end(entry.get(), &set);
  BSON_APPEND_BOOL(opts.get(), "upsert", true);
  if (!mongoc_collection_update_one(revoked.get(), selector.get(), entry.get(), opts.get(), nullptr, &err)) {
    error = std::string("the token was taken off the call but not filed as revoked: ") + err.message;
    return false;
  }
  return true;
}

std::optional<bool> CallStore::isRevokedBlocking(mongoc_client_t* client, const std::string& database,
                                                 const std::string& revokedCollection,
                                                 const std::string& token) {
  if (!client) return std::nullopt;
  MongocCollectionPtr coll(mongoc_client_get_collection(client, database.c_str(), revokedCollection.c_str()));
  ScopedBson filter, opts;
  fields::putString(filter.get(), "_id", crypto::sha256Hex(token));
  BSON_APPEND_INT64(opts.get(), "limit", 1);
  BSON_APPEND_INT64(opts.get(), "maxTimeMS", 2000);
  bson_t projection;
  BSON_APPEND_DOCUMENT_BEGIN(opts.get(), "projection", &projection);
  BSON_APPEND_INT32(&projection, "_id", 1);
  bson_append_document_end(opts.get(), &projection);
  MongocCursorPtr cursor(mongoc_collection_find_with_opts(coll.get(), filter.get(), opts.get(), nullptr));
  const bson_t* doc = nullptr;
  if (mongoc_cursor_next(cursor.get(), &doc)) return true;
  bson_error_t error;
  if (mongoc_cursor_error(cursor.get(), &error)) return std::nullopt;
  return false;
}

namespace {

// findAndModify returning the document after the update (`found` false when nothing
// matched). false + error when MongoDB failed.
bool findAndModifyAfter(mongoc_collection_t* coll, const bson_t* query, const bson_t* update,
                        ScopedBson& reply, bool& found, CallRecord& after, std::string& error) {
  bson_error_t err;
  if (!mongoc_collection_find_and_modify(coll, query, nullptr, update, nullptr, false, false, true,
                                         reply.get(), &err)) {
    error = err.message;
    return false;
  }
  bson_t doc;
  found = fields::getDocument(reply.get(), "value", doc);
  if (found) after = recordFromDocument(&doc);
  return true;
}

}  // namespace

UploadRecorded CallStore::recordUploadBlocking(mongoc_client_t* client, const std::string& database,
                                               const std::string& collection, const UploadFacts& upload,
                                               const std::string& candidateToken,
                                               const std::string& revokedCollection) {
  UploadRecorded out;
  if (!client) {
    out.error = "no MongoDB client available";
    return out;
  }
  MongocCollectionPtr coll(mongoc_client_get_collection(client, database.c_str(), collection.c_str()));
  bool found = false;
  {
    ScopedBson query, update, reply;
    fields::putString(query.get(), "session_id", upload.sessionId);
    bson_t set;
    BSON_APPEND_DOCUMENT_BEGIN(update.get(), "$set", &set);
    fields::putString(&set, "recording_key", upload.key);
    fields::putString(&set, "recording_status", "ready");
    BSON_APPEND_INT64(&set, "recording_size", static_cast<int64_t>(upload.size));
    fields::putString(&set, "recording_etag", upload.etag);
    fields::putString(&set, "recording_content_type", upload.contentType);
    if (upload.durationS) BSON_APPEND_DOUBLE(&set, "recording_duration_s", *upload.durationS);
    fields::putDate(&set, "recording_reported_at", std::chrono::system_clock::now());
    bson_append_document_end(update.get(), &set);
    if (!findAndModifyAfter(coll.get(), query.get(), update.get(), reply, found, out.record, out.error))
      return out;
  }
  if (!found) {
    out.outcome = UploadRecorded::Outcome::kNoCall;
    return out;
  }
  if (out.record.accessToken.empty() && !revokedCollection.empty()) {
    MongocCollectionPtr revoked(
        mongoc_client_get_collection(client, database.c_str(), revokedCollection.c_str()));
    ScopedBson filter, opts;
    fields::putString(filter.get(), "session_id", upload.sessionId);
    BSON_APPEND_INT64(opts.get(), "limit", 1);
    MongocCursorPtr cursor(
        mongoc_collection_find_with_opts(revoked.get(), filter.get(), opts.get(), nullptr));
    const bson_t* doc = nullptr;
    if (mongoc_cursor_next(cursor.get(), &doc)) {
      out.linkRevoked = true;
      out.outcome = UploadRecorded::Outcome::kRecorded;
      return out;
    }
    bson_error_t err;
    if (mongoc_cursor_error(cursor.get(), &err)) {
      out.error = err.message;
      return out;
    }
  }
  if (out.record.accessToken.empty()) {
    // Only a call still without a token takes this one (null also matches a missing field):
    // two reports racing each other mint once.
    ScopedBson query, update, reply;
    fields::putString(query.get(), "session_id", upload.sessionId);
    bson_t cond, list;
    BSON_APPEND_DOCUMENT_BEGIN(query.get(), "recording_access_token", &cond);
    BSON_APPEND_ARRAY_BEGIN(&cond, "$in", &list);
    BSON_APPEND_NULL(&list, "0");
    BSON_APPEND_UTF8(&list, "1", "");
    bson_append_array_end(&cond, &list);
    bson_append_document_end(query.get(), &cond);
    bson_t set;
    BSON_APPEND_DOCUMENT_BEGIN(update.get(), "$set", &set);
    fields::putString(&set, "recording_access_token", candidateToken);
    bson_append_document_end(update.get(), &set);
    CallRecord after;
    if (!findAndModifyAfter(coll.get(), query.get(), update.get(), reply, found, after, out.error))
      return out;
    if (found) {
      out.record = after;
      out.tokenCreated = true;
    } else {
      // Another report set a token in between: read the call as it is now.
      out.record = findBlocking(client, database, collection, LookupField::kSessionId, upload.sessionId);
      if (out.record.outcome == CallRecord::Outcome::kUnavailable) {
        out.error = out.record.error;
        return out;
      }
      if (out.record.outcome == CallRecord::Outcome::kNoCall) {
        out.outcome = UploadRecorded::Outcome::kNoCall;
        return out;
      }
    }
  }
  out.outcome = UploadRecorded::Outcome::kRecorded;
  return out;
}

CallRecord CallStore::findBlocking(mongoc_client_t* client, const std::string& database,
                                   const std::string& collection, LookupField field,
                                   const std::string& value) {
  CallRecord record;
  if (!client) {
    record.error = "no MongoDB client available";
    return record;
  }
  MongocCollectionPtr coll(mongoc_client_get_collection(client, database.c_str(), collection.c_str()));
  ScopedBson filter, opts;
  const char* fieldName = field == LookupField::kToken ? "recording_access_token" : "session_id";
  bson_append_utf8(filter.get(), fieldName, -1, value.c_str(), static_cast<int>(value.size()));
  appendProjection(opts.get());
  BSON_APPEND_INT64(opts.get(), "limit", 1);
  BSON_APPEND_INT64(opts.get(), "maxTimeMS", 2000);
  MongocCursorPtr cursor(mongoc_collection_find_with_opts(coll.get(), filter.get(), opts.get(), nullptr));
  const bson_t* doc = nullptr;
  if (mongoc_cursor_next(cursor.get(), &doc)) return recordFromDocument(doc);
  bson_error_t error;
  if (mongoc_cursor_error(cursor.get(), &error)) {
    record.outcome = CallRecord::Outcome::kUnavailable;
    record.error = error.message;
    return record;
  }
  record.outcome = CallRecord::Outcome::kNoCall;
  return record;
}

void CallStore::find(LookupField field, const std::string& value, std::function<void(CallRecord)> done) {
  std::string database = mongo_.databaseName();
  std::string collection = collection_;
  std::string revokedCollection = revokedCollection_;
  bool queued = mongo_.run(
      [database, collection, revokedCollection, field, value, done](mongoc_client_t* client) mutable {
        CallRecord record = findBlocking(client, database, collection, field, value);
        // Only a token no call holds costs the second (primary-key) query.
        if (field == LookupField::kToken && record.outcome == CallRecord::Outcome::kNoCall &&
            !revokedCollection.empty()) {
          std::optional<bool> revoked = isRevokedBlocking(client, database, revokedCollection, value);
          if (!revoked) {
            record.outcome = CallRecord::Outcome::kUnavailable;
            record.error = "MongoDB failed reading " + revokedCollection;
          } else {
            record.linkRevoked = *revoked;
          }
        }
        return reactor::WorkerPool::Completion(
            [done = std::move(done), record = std::move(record)]() mutable { done(std::move(record)); });
      });
  if (!queued) {
    CallRecord busy;
    busy.error = "MongoDB worker queue is full";
    done(std::move(busy));
  }
}

}  // namespace recgw::storage
