#include "storage/recording_store_bson.h"

// The streamed archive's journal (ArchiveUpload) in the transitions collection.

namespace recgw::storage {

using namespace store_detail;

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
