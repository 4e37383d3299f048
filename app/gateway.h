#pragma once
// One worker process: its loop and everything that lives on it, wired from the config.
#include <memory>

#include "app/config.h"

namespace recgw::app {

// Runs a worker until SIGTERM/SIGINT drains it. Returns the process exit code
// (2 for start-up errors such as a port that cannot be bound).
int runWorker(const Config& config, int workerIndex);

}  // namespace recgw::app
