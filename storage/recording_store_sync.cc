#include <set>

#include "storage/recording_store_bson.h"

// RecordingStore::sync: a room's provider recordings linked to ours or imported.

namespace recgw::storage {
namespace {

using namespace store_detail;

constexpr int64_t kMaxLinkCandidates = 200;

}  // namespace

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

}  // namespace recgw::storage
