#pragma once
// One worker process: its loop and everything that lives on it, wired from the config.
#include <memory>
#include <string>

#include "app/config.h"
#include "fleet/source_chain.h"
#include "handlers/failed_lookup_limiter.h"
#include "storage/credentials_sources.h"
#include "storage/storage_settings.h"

namespace recgw::app {

// What the supervisor makes before it forks, for all its workers to share.
struct SharedByWorkers {
  // Private (mkdtemp, 0700) directory of published metrics; "" = no cross-worker merge.
  std::string metricsDirectory;
  // Failed-lookup and diagnosis buckets in MAP_SHARED memory; null = each worker keeps its own.
  std::shared_ptr<handlers::FailedLookupTable> failedLookups;
  std::shared_ptr<handlers::FailedLookupTable> diagnoses;
};
// Throws std::runtime_error when the shared memory cannot be mapped.
SharedByWorkers createSharedByWorkers();
// After the workers have exited.
void releaseSharedByWorkers(SharedByWorkers& shared);

// Runs a worker until SIGTERM/SIGINT drains it. Returns the process exit code
// (2 for start-up errors such as a port that cannot be bound).
int runWorker(const Config& config, int workerIndex, const SharedByWorkers& shared = {});

// Config → the settings the storage and fleet code take (shared with the CLI).
storage::StorageValues storageValuesFrom(const Config& config);
fleet::UpstreamTimeouts timeoutsFrom(const Config& config);
// Config → where S3 credentials come from (staticKeys left unset: the caller knows its
// settings).
storage::CredentialSourceSettings credentialSourceFrom(const Config& config);

}  // namespace recgw::app
