#include "storage/mongo_indexes.h"
#include "storage/recording_store_bson.h"

// The recordings collection's indexes, created once per process before the first job.

namespace recgw::storage {

Status RecordingStore::ensureIndexes(mongoc_client_t* client, const RecordingCollections& names) {
  // sparse unique: recordings without the field must not collide on its absence.
  const IndexSpec specs[] = {
      {"active_room_unique", {{"active_room", 1}}, true, true},
      {"provider_recording_id_unique", {{"provider_recording_id", 1}}, true, true},
      {"tenant_created", {{"tenant_id", 1}, {"created_at", -1}}, false, false},
      {"tenant_room_status", {{"tenant_id", 1}, {"room_id", 1}, {"status", 1}}, false, false},
      {"status_id", {{"status", 1}, {"_id", 1}}, false, false},
  };
  for (const IndexSpec& spec : specs) {
    // A unique index must be ours: anything else breaks the one-winner guarantees. A helper
    // index defined differently by someone else is good enough.
    auto made = createIndexBlocking(client, names.database, names.recordings, spec,
                                    spec.unique ? OnConflict::kFail : OnConflict::kAccept);
    if (!made) return made;
  }
  return ok();
}

}  // namespace recgw::storage
