#pragma once
// What the recording store's files (recording_store*.cc) share: the query and document
// helpers over libmongoc and bson_fields. Internal to storage/; blocking, worker threads only.
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>

#include "storage/bson_fields.h"
#include "storage/mongo_handles.h"
#include "storage/recording_store.h"

namespace recgw::storage::store_detail {

inline constexpr int64_t kMaxTimeMs = 5000;
inline constexpr uint32_t kDuplicateKey = 11000;

using fields::getDate;
using fields::getDocument;
using fields::getDouble;
using fields::getInt;
using fields::getString;
using fields::putDate;
using fields::putString;

void appendStorage(bson_t* doc, const char* key, const StoredObject& s);
// {field: null} matches a missing field too: "not deleted".
void appendNotDeleted(bson_t* filter);
void appendStatusIn(bson_t* filter, std::initializer_list<RecordingStatus> statuses);
void appendExists(bson_t* filter, const char* field, bool exists);
// {_id: id[, tenant_id]}
void appendIdFilter(bson_t* filter, const std::string& tenantId, const std::string& id);

// mongo_handles.h has no database handle; the store's index creation is its only user.
struct MongocDatabaseFree {
  void operator()(mongoc_database_t* d) const noexcept { mongoc_database_destroy(d); }
};
using MongocDatabasePtr = std::unique_ptr<mongoc_database_t, MongocDatabaseFree>;

MongocCollectionPtr collection(mongoc_client_t* client, const RecordingCollections& names,
                               const std::string& name);

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
                                          std::string& error);

enum class Modify { kMatched, kNoMatch, kError };

// One findAndModify returning the document after the update.
Modify findAndModify(mongoc_collection_t* coll, const bson_t* query, const bson_t* sort, const bson_t* update,
                     Recording& out, std::string& error);

enum class Insert { kOk, kDuplicate, kError };

Insert insertRecording(mongoc_collection_t* coll, const Recording& rec, const std::string& activeRoom,
                       std::string& error);

// After a conditional update matched nothing: was the recording there at all?
StoreResult conflictOrNotFound(mongoc_collection_t* coll, const std::string& tenantId, const std::string& id);

}  // namespace recgw::storage::store_detail
