#pragma once
// One worker's lifecycle: the service and the poll, wired to MongoDB, the media provider and
// S3 (lifecycle/adapters.h, lifecycle/archive_storage.h). app/ builds one per worker process
// through handlers::registerLifecycleRoutes. Destroying it stops the poll and the sweep;
// requests and transfers still in flight then finish without effect. Loop thread only.
#include <functional>
#include <memory>

#include "lifecycle/adapters.h"
#include "lifecycle/archive_storage.h"
#include "lifecycle/lifecycle_service.h"
#include "lifecycle/poller.h"
#include "lifecycle/settings.h"
#include "reactor/curl_multi.h"
#include "reactor/event_loop.h"
#include "reactor/metrics.h"
#include "storage/mongo_client.h"
#include "storage/recording_store.h"
#include "storage/s3_objects.h"

namespace recgw::lifecycle {

struct LifecycleDeps {
  storage::MongoClient& mongo;  // db from the Mongo URI
  reactor::CurlMulti& curl;
  reactor::EventLoop& loop;
  reactor::Metrics* metrics = nullptr;
  // The main storage as now in force (the hot store unless lifecycle.hot_* is set).
  std::function<SigningStore()> mainStore;
};

fleet::MediaProviderSettings providerSettings(const LifecycleSettings& s);

class Lifecycle {
 public:
  Lifecycle(const LifecycleDeps& deps, LifecycleSettings settings);
  ~Lifecycle();
  Lifecycle(const Lifecycle&) = delete;
  Lifecycle& operator=(const Lifecycle&) = delete;

  LifecycleService& service() { return service_; }
  const LifecycleSettings& settings() const { return settings_; }

  // The sweep of dead streamed archives and, unless poll_period_s is 0, the background poll
  // (a pass every poll_period_s). Idempotent.
  void startBackground();

 private:
  reactor::EventLoop& loop_;
  const LifecycleSettings settings_;
  storage::RecordingStore store_;
  MongoRecordingRepository repository_;
  FleetMediaProvider provider_;
  storage::S3Objects objects_;
  S3ArchiveStorage archive_;
  LifecycleService service_;
  std::unique_ptr<Poller> poller_;
};

}  // namespace recgw::lifecycle
