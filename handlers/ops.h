#pragma once
// /healthz, /readyz and /metrics, on the public listener and on the ops listener
// (server.ops_listen). Anonymous clients of the public listener learn whether the gateway is
// ready (`ready` and `status`), nothing more: the details (dependency reasons, the storage
// endpoint and bucket, each origin's circuit breaker) are for the ops listener or an admin JWT.
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "fleet/reachability.h"
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

// The overall answer of /readyz. The numbers are the values of the gauge recgw_ready_state.
enum class ReadyState {
  // 503: lookups cannot be answered (MongoDB unreachable) or there is nothing to serve
  // recordings from (no storage and no fleet).
  kNotReady = 0,
  // 200: serving, but a dependency that only saves work is down (Redis down or refusing
  // our credentials: every lookup that misses L1 costs a MongoDB query), or `calls` lacks an
  // index recgw needs (every lookup that reaches MongoDB scans the collection).
  kDegraded = 1,
  kReady = 2,
};
const char* readyStateName(ReadyState state);  // "not_ready", "degraded", "ready"

struct ReadinessReport {
  DependencyStatus mongo, redis, storage;
  // Whether the indexes recgw needs on `calls` exist; unset = not checked.
  std::optional<DependencyStatus> callIndexes;
  std::optional<StorageCredentialsView> credentials;  // shown under storage when set
  bool redisEnabled = false;
  bool fleetConfigured = false;
  std::vector<std::pair<std::string, std::string>> breakers;
};

// Pure: the overall state from the dependencies' states.
ReadyState overallReadiness(const ReadinessReport& report);

struct OpsDependencies {
  storage::MongoClient* mongo = nullptr;
  storage::RedisClient* redis = nullptr;  // nullptr when Redis is disabled
  // Storage settings as now in force (config + system_settings); URLs in display form.
  std::function<DependencyStatus()> storageStatus;
  // The storage credentials in force; unset = none to show.
  std::function<std::optional<StorageCredentialsView>()> storageCredentials;
  // Whether storage and each fleet host answer, TLS handshake included (cached by the
  // callee); null = not checked. Turns a certificate that cannot be verified into the
  // storage/fleet reason of the detailed /readyz.
  std::function<void(fleet::Reachability::Done)> checkUpstreams;
  // Whether a fleet is configured (config or system_settings): recordings can then be
  // served without storage of our own.
  std::function<bool()> fleetConfigured;
  // Called with each overall state /readyz, probeReadiness or refreshReadyState finds (e.g.
  // to set a gauge).
  std::function<void(ReadyState)> onReadyState;
  // MongoDB's answer to the last probe, kept for refreshReadyState (which does not ping:
  // MongoClient::ping runs only when /readyz is asked, and the benchmarks rely on that).
  std::shared_ptr<DependencyStatus> lastMongoStatus = std::make_shared<DependencyStatus>(
      DependencyStatus{false, "not asked yet"});
  // Whether the indexes recgw needs on `calls` exist (ok=false names the missing ones: every
  // lookup that misses the caches then scans the collection). Asked with each probe; the
  // callee may answer from a recent check. Null = not checked.
  std::function<void(std::function<void(DependencyStatus)>)> checkCallIndexes;
  // The last answer of checkCallIndexes, for refreshReadyState.
  std::shared_ptr<std::optional<DependencyStatus>> lastCallIndexes =
      std::make_shared<std::optional<DependencyStatus>>();
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

// Asks every dependency (MongoDB ping, Redis PING) and calls `done` once, on the loop, with
// the report; also records MongoDB's answer and calls deps.onReadyState.
void probeReadiness(const OpsDependencies& deps, std::function<void(const ReadinessReport&)> done);

// At once, without asking anyone: Redis' connection state, storage and fleet as they are now,
// MongoDB as of the last probe; calls deps.onReadyState. For recgw_ready_state between probes.
ReadyState refreshReadyState(const OpsDependencies& deps);

}  // namespace recgw::handlers
