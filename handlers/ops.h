#pragma once
// /healthz, /readyz and /metrics.
#include <functional>
#include <string>
#include <vector>

#include "reactor/http_server.h"

namespace recgw::storage {
class MongoClient;
class RedisClient;
}  // namespace recgw::storage

namespace recgw::handlers {

struct DependencyStatus {
  bool ok = false;
  std::string reason;
};

struct OpsDependencies {
  storage::MongoClient* mongo = nullptr;
  storage::RedisClient* redis = nullptr;  // nullptr when Redis is disabled
  // Storage settings as now in force (config + system_settings).
  std::function<DependencyStatus()> storageStatus;
  // Circuit breakers: origin → state name ("closed", "open", "half_open").
  std::function<std::vector<std::pair<std::string, std::string>>()> breakerStates;
  // Extra gauges refreshed right before /metrics renders.
  std::function<void()> refreshGauges;
  // The text /metrics answers with (e.g. merged across worker processes); when empty, this
  // process's own metrics.
  std::function<std::string(const std::string& ownText)> mergeMetrics;
};

void registerOpsRoutes(reactor::HttpServer& server, OpsDependencies deps);

}  // namespace recgw::handlers
