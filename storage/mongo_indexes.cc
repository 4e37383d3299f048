#include "storage/mongo_indexes.h"

#include "storage/bson_fields.h"
#include "storage/mongo_handles.h"

namespace recgw::storage {
namespace {

// "NamespaceNotFound": listIndexes on a collection that was never created.
constexpr uint32_t kNamespaceNotFound = 26;

bool getBool(const bson_t* doc, const char* key) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, key)) return false;
  if (BSON_ITER_HOLDS_BOOL(&it)) return bson_iter_bool(&it);
  // Some servers write numbers for flags (unique: 1).
  if (BSON_ITER_HOLDS_NUMBER(&it)) return bson_iter_as_int64(&it) != 0;
  return false;
}

IndexSpec indexFromDocument(const bson_t* doc) {
  IndexSpec index;
  index.name = fields::getString(doc, "name");
  index.unique = getBool(doc, "unique");
  index.sparse = getBool(doc, "sparse");
  bson_t key;
  if (fields::getDocument(doc, "key", key)) {
    bson_iter_t it;
    if (bson_iter_init(&it, &key)) {
      while (bson_iter_next(&it)) {
        // Text and hashed indexes carry a string direction: keep the field, direction 0.
        int direction = BSON_ITER_HOLDS_NUMBER(&it) ? static_cast<int>(bson_iter_as_int64(&it)) : 0;
        index.keys.emplace_back(bson_iter_key(&it), direction);
      }
    }
  }
  return index;
}

}  // namespace

Expected<CollectionIndexes> listIndexesBlocking(mongoc_client_t* client, const std::string& database,
                                                const std::string& collection) {
  MongocCollectionPtr coll(mongoc_client_get_collection(client, database.c_str(), collection.c_str()));
  MongocCursorPtr cursor(mongoc_collection_find_indexes_with_opts(coll.get(), nullptr));
  CollectionIndexes out;
  const bson_t* doc = nullptr;
  while (mongoc_cursor_next(cursor.get(), &doc)) out.indexes.push_back(indexFromDocument(doc));
  bson_error_t err;
  if (mongoc_cursor_error(cursor.get(), &err)) {
    if (err.code == kNamespaceNotFound) return CollectionIndexes{false, {}};
    return fail("listIndexes on " + collection + ": " + err.message);
  }
  // Every existing MongoDB collection has its _id index; FerretDB answers an empty list
  // instead of NamespaceNotFound for a collection that does not exist.
  if (out.indexes.empty()) out.collectionExists = false;
  return out;
}

Status createIndexBlocking(mongoc_client_t* client, const std::string& database,
                           const std::string& collection, const IndexSpec& index, OnConflict onConflict) {
  ScopedBson cmd, reply;
  bson_t indexes, entry, key;
  fields::putString(cmd.get(), "createIndexes", collection);
  bson_append_array_begin(cmd.get(), "indexes", -1, &indexes);
  bson_append_document_begin(&indexes, "0", -1, &entry);
  bson_append_document_begin(&entry, "key", -1, &key);
  for (const auto& [field, direction] : index.keys) bson_append_int32(&key, field.c_str(), -1, direction);
  bson_append_document_end(&entry, &key);
  fields::putString(&entry, "name", index.name);
  if (index.unique) bson_append_bool(&entry, "unique", -1, true);
  if (index.sparse) bson_append_bool(&entry, "sparse", -1, true);
  bson_append_document_end(&indexes, &entry);
  bson_append_array_end(cmd.get(), &indexes);
  MongocDatabasePtr db(mongoc_client_get_database(client, database.c_str()));
  bson_error_t err;
  if (mongoc_database_write_command_with_opts(db.get(), cmd.get(), nullptr, reply.get(), &err)) return ok();
  if (onConflict == OnConflict::kAccept &&
      (err.code == kIndexOptionsConflict || err.code == kIndexKeySpecsConflict))
    return ok();
  return fail(index.name + ": " + err.message);
}

}  // namespace recgw::storage
