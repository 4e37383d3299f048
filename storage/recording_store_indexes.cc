#include "storage/recording_store_bson.h"

// The recordings collection's indexes, created once per process before the first job.

namespace recgw::storage {
namespace {

using namespace store_detail;

// createIndexes: an index of that name or key exists with other options.
constexpr uint32_t kIndexOptionsConflict = 85;
constexpr uint32_t kIndexKeySpecsConflict = 86;

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

}  // namespace recgw::storage
