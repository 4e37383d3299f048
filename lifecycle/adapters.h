#pragma once
// The ports of lifecycle/ports.h over the real things: the recordings store in MongoDB
// (storage::RecordingStore, its jobs on the worker pool) and the media provider's HTTP API
// (fleet::MediaProvider). Loop thread only.
#include <string>
#include <vector>

#include "fleet/media_provider.h"
#include "lifecycle/ports.h"
#include "storage/recording_store.h"

namespace recgw::lifecycle {

class MongoRecordingRepository : public RecordingRepository {
 public:
  explicit MongoRecordingRepository(storage::RecordingStore& store) : store_(store) {}

  void findRoom(const std::string& tenant, const std::string& roomId, Callback<StoreResult> done) override;
  void start(const std::string& tenant, const std::string& roomId, const std::string& newId,
             Clock::time_point now, Callback<StoreResult> done) override;
  void stop(const std::string& tenant, const std::string& roomId, Clock::time_point now,
            Callback<StoreResult> done) override;
  void get(const std::string& tenant, const std::string& id, bool withRoom,
           Callback<StoreResult> done) override;
  void list(const std::string& tenant, int64_t limit, int64_t offset,
            Callback<storage::RecordingPage> done) override;
  void transition(const std::string& tenant, const std::string& id, RecordingStatus expected,
                  const storage::TransitionUpdate& update, Clock::time_point now,
                  Callback<StoreResult> done) override;
  void softDelete(const std::string& tenant, const std::string& id, Clock::time_point now,
                  Callback<StoreResult> done) override;
  void sync(const std::string& tenant, const std::string& roomId,
            const std::vector<storage::ProviderSnapshot>& snapshots, std::chrono::seconds linkWindow,
            bool importUnknown, bool checkRoom, Clock::time_point now,
            Callback<storage::SyncResult> done) override;
  void recoverTarget(const std::string& tenant, const std::string& id, Callback<RecoverTarget> done) override;
  void pollBatch(bool linked, const std::string& afterId, int64_t limit,
                 Callback<storage::RecordingPage> done) override;
  void advance(const Recording& rec, storage::ProviderRoomBinding binding,
               const std::vector<storage::TransitionUpdate>& updates, Clock::time_point now,
               Callback<Advanced> done) override;

 private:
  storage::RecordingStore& store_;
};

class FleetMediaProvider : public MediaProviderPort {
 public:
  FleetMediaProvider(reactor::EventLoop& loop, reactor::CurlMulti& curl,
                     fleet::MediaProviderSettings settings)
      : provider_(loop, curl, std::move(settings)) {}

  bool configured() const override { return provider_.configured(); }
  void listRoomRecordings(
      const std::string& providerRoomId,
      std::function<void(fleet::ProviderError, std::vector<fleet::ProviderRecording>)> done) override {
    provider_.listRoomRecordings(providerRoomId, std::move(done));
  }
  void getRecording(const std::string& providerId,
                    std::function<void(fleet::ProviderError, fleet::ProviderRecording)> done) override {
    provider_.getRecording(providerId, std::move(done));
  }
  void requestReprocess(const std::string& providerId,
                        std::function<void(fleet::ProviderError)> done) override {
    provider_.requestReprocess(providerId, std::move(done));
  }

 private:
  fleet::MediaProvider provider_;
};

}  // namespace recgw::lifecycle
