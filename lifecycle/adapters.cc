#include "lifecycle/adapters.h"

#include <utility>

namespace recgw::lifecycle {

namespace {
using storage::RecordingCollections;
using storage::RecordingStore;
}  // namespace

void MongoRecordingRepository::findRoom(const std::string& tenant, const std::string& roomId,
                                        Callback<StoreResult> done) {
  store_.run<StoreResult>(
      [tenant, roomId](mongoc_client_t* c, const RecordingCollections& n) {
        std::string error;
        auto room = RecordingStore::findRoom(c, n, tenant, roomId, error);
        if (!error.empty()) return StoreResult::unavailable(error);
        return StoreResult{room ? StoreOutcome::kOk : StoreOutcome::kNoRoom, {}, room, {}};
      },
      std::move(done));
}

void MongoRecordingRepository::start(const std::string& tenant, const std::string& roomId,
                                     const std::string& newId, Clock::time_point now,
                                     Callback<StoreResult> done) {
  store_.run<StoreResult>(
      [tenant, roomId, newId, now](mongoc_client_t* c, const RecordingCollections& n) {
        return RecordingStore::start(c, n, tenant, roomId, newId, now);
      },
      std::move(done));
}

void MongoRecordingRepository::stop(const std::string& tenant, const std::string& roomId,
                                    Clock::time_point now, Callback<StoreResult> done) {
  store_.run<StoreResult>(
      [tenant, roomId, now](mongoc_client_t* c, const RecordingCollections& n) {
        return RecordingStore::stop(c, n, tenant, roomId, now);
      },
      std::move(done));
}

void MongoRecordingRepository::get(const std::string& tenant, const std::string& id, bool withRoom,
                                   Callback<StoreResult> done) {
  store_.run<StoreResult>(
      [tenant, id, withRoom](mongoc_client_t* c, const RecordingCollections& n) {
        return RecordingStore::get(c, n, tenant, id, withRoom);
      },
      std::move(done));
}

void MongoRecordingRepository::list(const std::string& tenant, int64_t limit, int64_t offset,
                                    Callback<storage::RecordingPage> done) {
  store_.run<storage::RecordingPage>(
      [tenant, limit, offset](mongoc_client_t* c, const RecordingCollections& n) {
        return RecordingStore::list(c, n, tenant, limit, offset);
      },
      std::move(done));
}

void MongoRecordingRepository::transition(const std::string& tenant, const std::string& id,
                                          RecordingStatus expected, const storage::TransitionUpdate& update,
                                          Clock::time_point now, Callback<StoreResult> done) {
  store_.run<StoreResult>(
      [tenant, id, expected, update, now](mongoc_client_t* c, const RecordingCollections& n) {
        return RecordingStore::transition(c, n, tenant, id, expected, update, now);
      },
      std::move(done));
}

void MongoRecordingRepository::softDelete(const std::string& tenant, const std::string& id,
                                          Clock::time_point now, Callback<StoreResult> done) {
  store_.run<StoreResult>(
      [tenant, id, now](mongoc_client_t* c, const RecordingCollections& n) {
        return RecordingStore::softDelete(c, n, tenant, id, now);
      },
      std::move(done));
}

void MongoRecordingRepository::sync(const std::string& tenant, const std::string& roomId,
                                    const std::vector<storage::ProviderSnapshot>& snapshots,
                                    std::chrono::seconds linkWindow, bool importUnknown, bool checkRoom,
                                    Clock::time_point now, Callback<storage::SyncResult> done) {
  store_.run<storage::SyncResult>(
      [tenant, roomId, snapshots, linkWindow, importUnknown, checkRoom, now](mongoc_client_t* c,
                                                                             const RecordingCollections& n) {
        return RecordingStore::sync(c, n, tenant, roomId, snapshots, linkWindow, importUnknown, checkRoom,
                                    now);
      },
      std::move(done));
}

void MongoRecordingRepository::recoverTarget(const std::string& tenant, const std::string& id,
                                             Callback<RecoverTarget> done) {
  store_.run<RecoverTarget>(
      [tenant, id](mongoc_client_t* c, const RecordingCollections& n) {
        RecoverTarget out{RecordingStore::get(c, n, tenant, id, false), false};
        if (out.found.ok() && !out.found.recording->providerRecordingId.empty()) {
          std::string error;
          out.roomIdShared = RecordingStore::roomIdShared(c, n, tenant, out.found.recording->roomId, error);
          if (!error.empty()) return RecoverTarget::unavailable(error);
        }
        return out;
      },
      std::move(done));
}

void MongoRecordingRepository::pollBatch(bool linked, const std::string& afterId, int64_t limit,
                                         Callback<storage::RecordingPage> done) {
  store_.run<storage::RecordingPage>(
      [linked, afterId, limit](mongoc_client_t* c, const RecordingCollections& n) {
        return RecordingStore::pollBatch(c, n, linked, afterId, limit);
      },
      std::move(done));
}

void MongoRecordingRepository::advance(const Recording& rec, storage::ProviderRoomBinding binding,
                                       const std::vector<storage::TransitionUpdate>& updates,
                                       Clock::time_point now, Callback<Advanced> done) {
  store_.run<Advanced>(
      [rec, binding, updates, now](mongoc_client_t* c, const RecordingCollections& n) {
        Advanced out;
        bool shared = false;
        if (binding == storage::ProviderRoomBinding::kBareRoomId) {
          std::string error;
          shared = RecordingStore::roomIdShared(c, n, rec.tenantId, rec.roomId, error);
          if (!error.empty()) return Advanced::unavailable(error);
        }
        if (!storage::linkedProviderRoomAccepted(binding, shared)) {
          out.notBound = true;
          return out;
        }
        RecordingStatus from = rec.status;
        for (const auto& u : updates) {
          // The poll acts on any tenant's recording: no tenant in the filter.
          out.last = RecordingStore::transition(c, n, "", rec.id, from, u, now);
          if (!out.last.ok()) return out;
          out.steps.push_back(*u.to);
          from = *u.to;
        }
        return out;
      },
      std::move(done));
}

}  // namespace recgw::lifecycle
