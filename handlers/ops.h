#pragma once
// /healthz, /readyz and /metrics, on the public listener and on the ops listener
// (server.ops_listen). Anonymous clients of the public listener learn whether the gateway is
// ready, nothing more: the details (dependency reasons, the storage endpoint and bucket,
// each origin's circuit breaker) are for the ops listener or an admin JWT.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "reactor/http_server.h"

namespace recgw::storage {
class MongoClient;
class RedisClient;
}  // namespace recgw::storage

namespace recgw::handlers {

class JwtVerifier;

struct DependencyStatus {
  bool ok = false;
  std::string reason;
};

// The storage credentials as /readyz shows them: where they come from and how long they
// last, never the keys.
struct StorageCredentialsView {
  std::string source;
  bool available = false;
  bool temporary = false;
  std::optional<int64_t> expiresInSeconds;
  std::string lastError;
};

struct OpsDependencies {
  storage::MongoClient* mongo = nullptr;
  storage::RedisClient* redis = nullptr;  // nullptr when Redis is disabled
  // Storage settings as now in force (config + system_settings); URLs in display form.
  std::function<DependencyStatus()> storageStatus;
  // The storage credentials in force; unset = none to show.
  std::function<std::optional<StorageCredentialsView>()> storageCredentials;
  // Circuit breakers: origin name (fleet::breakerOriginName) → state name ("closed", "open",
  // "half_open").
  std::function<std::vector<std::pair<std::string, std::string>>()> breakerStates;
  // The metrics /metrics renders; null = the listener's own (HttpServer::metrics()). The ops
  // listener keeps its own traffic out of the worker's metrics, so it passes the worker's.
  reactor::Metrics* metrics = nullptr;
  // Extra gauges refreshed right before /metrics renders.
  std::function<void()> refreshGauges;
  // The text /metrics answers with (e.g. merged across worker processes); when empty, this
  // process's own metrics.
  std::function<std::string(const std::string& ownText)> mergeMetrics;
  // Admin JWTs unlock the detailed /readyz on the public listener; null = nobody.
  const JwtVerifier* jwt = nullptr;
};

// What a listener's ops routes show, and to whom.
enum class OpsExposure {
  // The public listener while an ops listener exists: /healthz; /readyz with {"ready": …}
  // only (the details with an admin JWT); no /metrics (404).
  kPublic,
  // The public listener when there is no ops listener: as kPublic, plus /metrics (its
  // labels hold URLs in display form only), so existing scrapers keep working.
  kPublicWithMetrics,
  // The ops listener: /healthz, the detailed /readyz and /metrics for whoever can reach
  // it (bind it to loopback or an internal network).
  kOps,
};

void registerOpsRoutes(reactor::HttpServer& server, OpsDependencies deps, OpsExposure exposure);

}  // namespace recgw::handlers
