#include "lifecycle/runtime.h"

#include <algorithm>

#include "reactor/logger.h"

namespace recgw::lifecycle {

fleet::MediaProviderSettings providerSettings(const LifecycleSettings& s) {
  fleet::MediaProviderSettings p;
  p.baseUrl = s.providerUrl;
  p.token = s.providerToken;
  p.connectTimeout = s.providerConnectTimeout;
  p.timeout = s.providerTimeout;
  p.retries = std::max(0, s.providerRetries);
  p.backoff = s.providerBackoff;
  return p;
}

Lifecycle::Lifecycle(const LifecycleDeps& deps, LifecycleSettings settings)
    : loop_(deps.loop),
      settings_(std::move(settings)),
      store_(deps.mongo,
             storage::RecordingCollections{deps.mongo.databaseName(), settings_.roomsCollection,
                                           settings_.recordingsCollection, settings_.transitionsCollection}),
      repository_(store_),
      provider_(deps.loop, deps.curl, providerSettings(settings_)),
      objects_(deps.loop, deps.curl,
               storage::S3Timeouts{std::chrono::milliseconds(3000), settings_.s3Timeout}),
      archive_(deps.loop, objects_, store_, settings_, deps.mainStore),
      service_(repository_, provider_, archive_, settings_, deps.metrics) {}

Lifecycle::~Lifecycle() = default;

void Lifecycle::startBackground() {
  archive_.startSweep();
  if (settings_.pollPeriod.count() <= 0 || poller_) return;
  poller_ = std::make_unique<Poller>(loop_, service_, settings_.pollBatch);
  poller_->start(std::chrono::duration_cast<std::chrono::milliseconds>(settings_.pollPeriod));
  if (!provider_.configured()) reactor::logInfo("lifecycle poll idle: no media provider is configured");
}

}  // namespace recgw::lifecycle
