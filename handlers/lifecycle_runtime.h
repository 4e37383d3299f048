// What the lifecycle routes (lifecycle.cc) and the background poll (lifecycle_poller.cc)
// share: the per-worker runtime and the helpers both use. Internal to handlers/.
#pragma once

#include <chrono>
#include <memory>
#include <string_view>

#include "fleet/media_provider.h"
#include "handlers/lifecycle.h"
#include "handlers/lifecycle_archive.h"
#include "storage/recording_store.h"
#include "storage/s3_objects.h"

namespace recgw::handlers {

// The store's vocabulary, for the two lifecycle files that include this header.
using storage::Recording;
using storage::RecordingCollections;
using storage::RecordingStatus;
using storage::RecordingStore;
using storage::StoreOutcome;
using storage::StoreResult;
using Clock = std::chrono::system_clock;

class LifecyclePoller;

struct LifecycleRuntime {
  explicit LifecycleRuntime(LifecycleContext& c);
  ~LifecycleRuntime();
  LifecycleContext& ctx;  // owns this runtime
  storage::RecordingStore store;
  fleet::MediaProvider provider;
  storage::S3Objects objects;
  std::unique_ptr<ArchiveService> archive;  // hot store, archive, and the move between them
  std::unique_ptr<LifecyclePoller> poller;
};

// Logs a state change and counts it (recgw_lifecycle_transitions_total).
void noteTransition(LifecycleContext& ctx, std::string_view requestId, const storage::Recording& r,
                    std::string_view from, std::string_view to, std::string_view by);
void countMetric(LifecycleContext& ctx, std::string_view name, std::string_view key, std::string_view value);
// Logs (and counts) a linked provider recording that the provider files under a room that is
// not provably this recording's: it is left alone (see storage::linkedProviderRoomAccepted).
void noteUnboundProviderRecording(LifecycleContext& ctx, std::string_view requestId,
                                  const storage::Recording& r, std::string_view providerRoom,
                                  std::string_view by);
// The provider's view of a recording in the store's terms.
storage::ProviderSnapshot snapshotFrom(const fleet::ProviderRecording& p);
fleet::MediaProviderSettings providerSettings(const LifecycleSettings& s);

}  // namespace recgw::handlers
