#include "storage/call_store.h"

#include "storage/recording_key.h"

namespace recgw::storage {
namespace {

std::string stringField(const bson_t* doc, const char* name) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, doc, name) && BSON_ITER_HOLDS_UTF8(&it)) {
    uint32_t len = 0;
    const char* s = bson_iter_utf8(&it, &len);
    return std::string(s, len);
  }
  return {};
}

}  // namespace

CallRecord CallStore::findBlocking(mongoc_client_t* client, const std::string& database,
                                   const std::string& collection, LookupField field, const std::string& value) {
  CallRecord record;
  if (!client) {
    record.error = "no MongoDB client available";
    return record;
  }
  MongocCollectionPtr coll(mongoc_client_get_collection(client, database.c_str(), collection.c_str()));
  ScopedBson filter, opts;
  const char* fieldName = field == LookupField::kToken ? "recording_access_token" : "session_id";
  BSON_APPEND_UTF8(filter.get(), fieldName, value.c_str());
  bson_t projection;
  BSON_APPEND_DOCUMENT_BEGIN(opts.get(), "projection", &projection);
  for (const char* f : {"recording_key", "recording_url", "recording_status", "account_id", "session_id"}) {
    BSON_APPEND_INT32(&projection, f, 1);
  }
  bson_append_document_end(opts.get(), &projection);
  BSON_APPEND_INT64(opts.get(), "limit", 1);
  BSON_APPEND_INT64(opts.get(), "maxTimeMS", 2000);
  MongocCursorPtr cursor(mongoc_collection_find_with_opts(coll.get(), filter.get(), opts.get(), nullptr));
  const bson_t* doc = nullptr;
  if (mongoc_cursor_next(cursor.get(), &doc)) {
    std::string key = stringField(doc, "recording_key");
    std::string url = stringField(doc, "recording_url");
    record.hasRecordingKey = !key.empty();
    record.hasRecordingUrl = !url.empty();
    record.sessionId = stringField(doc, "session_id");
    record.accountId = stringField(doc, "account_id");
    record.recordingStatus = stringField(doc, "recording_status");
    if (auto derived = deriveRecordingKey(key, url)) {
      record.outcome = CallRecord::Outcome::kFound;
      record.key = derived->key;
      record.keyDerivation = derived->how;
    } else {
      record.outcome = CallRecord::Outcome::kNoKey;
    }
    return record;
  }
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
  bool queued = mongo_.run([database, collection, field, value, done](mongoc_client_t* client) mutable {
    CallRecord record = findBlocking(client, database, collection, field, value);
    return reactor::WorkerPool::Completion([done = std::move(done), record = std::move(record)]() mutable {
      done(std::move(record));
    });
  });
  if (!queued) {
    CallRecord busy;
    busy.error = "MongoDB worker queue is full";
    done(std::move(busy));
  }
}

}  // namespace recgw::storage
