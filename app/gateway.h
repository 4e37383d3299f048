#pragma once
// One worker process: its loop and everything that lives on it, wired from the config.
#include <memory>

#include "app/config.h"
#include "fleet/source_chain.h"
#include "storage/storage_settings.h"

namespace recgw::app {

// Runs a worker until SIGTERM/SIGINT drains it. Returns the process exit code
// (2 for start-up errors such as a port that cannot be bound).
int runWorker(const Config& config, int workerIndex);

// Where the workers of the supervisor `supervisorPid` share their metrics.
std::string metricsDirectory(int supervisorPid);

// Config → the settings the storage and fleet code take (shared with the CLI).
storage::StorageValues storageValuesFrom(const Config& config);
fleet::UpstreamTimeouts timeoutsFrom(const Config& config);

}  // namespace recgw::app
