#pragma once
// What the lifecycle's workflows (lifecycle_service.h) need from the layers below, as
// interfaces: the recordings store (MongoDB), the media provider (HTTP) and the object
// storage of the hot store and the archive (S3). lifecycle/adapters.h and
// lifecycle/archive_storage.h implement them over storage/ and fleet/; the unit tests pass
// fakes.
//
// Every call answers through its callback exactly once, later, on the loop thread (an
// implementation that is destroyed first may never answer; callers guard their captures).
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fleet/media_provider.h"
#include "lifecycle/outcome.h"
#include "storage/recording_store.h"
#include "storage/s3_objects.h"
#include "storage/sigv4_signer.h"

namespace recgw::lifecycle {

using storage::Recording;
using storage::RecordingStatus;
using storage::StoreOutcome;
using storage::StoreResult;
using Clock = std::chrono::system_clock;

template <typename T>
using Callback = std::function<void(T)>;

// The recording to recover, and whether another tenant has a room of the same id (a provider
// recording filed under the bare room id is then not provably this tenant's).
struct RecoverTarget {
  StoreResult found;
  bool roomIdShared = false;
  static RecoverTarget unavailable(std::string why) {
    return {StoreResult::unavailable(std::move(why)), false};
  }
};

// What moving one recording on toward the provider's state did (the poll).
struct Advanced {
  std::vector<RecordingStatus> steps;  // the ones that succeeded, in order
  StoreResult last;
  bool notBound = false;  // the provider recording is filed under a room that is not this one's
  static Advanced unavailable(std::string why) {
    return {{}, StoreResult::unavailable(std::move(why)), false};
  }
};

// The recordings store. Every query names the tenant (empty only where the poll acts on
// any tenant's recording), so another tenant's ids answer kNotFound like unknown ones.
class RecordingRepository {
 public:
  virtual ~RecordingRepository() = default;
  // kOk with `room` set, kNoRoom, kUnavailable.
  virtual void findRoom(const std::string& tenant, const std::string& roomId, Callback<StoreResult> done) = 0;
  virtual void start(const std::string& tenant, const std::string& roomId, const std::string& newId,
                     Clock::time_point now, Callback<StoreResult> done) = 0;
  virtual void stop(const std::string& tenant, const std::string& roomId, Clock::time_point now,
                    Callback<StoreResult> done) = 0;
  virtual void get(const std::string& tenant, const std::string& id, bool withRoom,
                   Callback<StoreResult> done) = 0;
  virtual void list(const std::string& tenant, int64_t limit, int64_t offset,
                    Callback<storage::RecordingPage> done) = 0;
  virtual void transition(const std::string& tenant, const std::string& id, RecordingStatus expected,
                          const storage::TransitionUpdate& update, Clock::time_point now,
                          Callback<StoreResult> done) = 0;
  virtual void softDelete(const std::string& tenant, const std::string& id, Clock::time_point now,
                          Callback<StoreResult> done) = 0;
  virtual void sync(const std::string& tenant, const std::string& roomId,
                    const std::vector<storage::ProviderSnapshot>& snapshots, std::chrono::seconds linkWindow,
                    bool importUnknown, bool checkRoom, Clock::time_point now,
                    Callback<storage::SyncResult> done) = 0;
  // get(), plus RecordingStore::roomIdShared when the recording is linked to the provider.
  virtual void recoverTarget(const std::string& tenant, const std::string& id,
                             Callback<RecoverTarget> done) = 0;
  // RecordingStore::pollBatch.
  virtual void pollBatch(bool linked, const std::string& afterId, int64_t limit,
                         Callback<storage::RecordingPage> done) = 0;
  // In one go: unless the provider files `rec` under a room that is not provably its own
  // (storage::linkedProviderRoomAccepted; a bare room id needs roomIdShared), applies
  // `updates` (each with `to` set) in order, from rec.status on, stopping at the first
  // that fails.
  virtual void advance(const Recording& rec, storage::ProviderRoomBinding binding,
                       const std::vector<storage::TransitionUpdate>& updates, Clock::time_point now,
                       Callback<Advanced> done) = 0;
};

// The media provider (fleet::MediaProvider's calls).
class MediaProviderPort {
 public:
  virtual ~MediaProviderPort() = default;
  virtual bool configured() const = 0;
  virtual void listRoomRecordings(
      const std::string& providerRoomId,
      std::function<void(fleet::ProviderError, std::vector<fleet::ProviderRecording>)> done) = 0;
  virtual void getRecording(const std::string& providerId,
                            std::function<void(fleet::ProviderError, fleet::ProviderRecording)> done) = 0;
  virtual void requestReprocess(const std::string& providerId,
                                std::function<void(fleet::ProviderError)> done) = 0;
};

// One S3-compatible service as now in force: its location (bucket included) and a signer
// (null: its settings are incomplete).
struct SigningStore {
  storage::S3Location location;
  storage::SigV4Signer* signer = nullptr;
};

// The hot store, the archive and the move between them (S3).
class ArchiveStorage {
 public:
  virtual ~ArchiveStorage() = default;
  // Why this ready recording cannot be archived now, or nullopt.
  virtual std::optional<ArchiveRefusal> refuse(const Recording& rec) = 0;
  // Whether the archive is on another service than the hot store (then it is streamed).
  virtual bool streamed() = 0;
  // Moves it; `done` gets the outcome and the stored object to record when it is moved.
  virtual void move(const Recording& rec,
                    std::function<void(storage::ArchiveMove, storage::StoredObject)> done) = 0;
  // The store a recording's object is in, by its bucket (empty: the hot one); nullopt for a
  // bucket that is neither the hot nor the archive bucket (download signs for no other).
  virtual std::optional<SigningStore> storeForBucket(const std::string& bucket) = 0;
};

}  // namespace recgw::lifecycle
