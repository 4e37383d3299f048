#include "handlers/ops.h"

#include <memory>
#include <optional>

#include "handlers/recordings.h"
#include "reactor/exchange_ref.h"
#include "reactor/json_writer.h"
#include "storage/mongo_client.h"
#include "storage/redis_client.h"

namespace recgw::handlers {
const char* readyStateName(ReadyState state) {
  switch (state) {
    case ReadyState::kNotReady:
      return "not_ready";
    case ReadyState::kDegraded:
      return "degraded";
    case ReadyState::kReady:
      return "ready";
  }
  return "not_ready";
}

ReadyState overallReadiness(const ReadinessReport& report) {
  if (!report.mongo.ok) return ReadyState::kNotReady;  // no lookup can be answered
  if (!report.storage.ok && !report.fleetConfigured) return ReadyState::kNotReady;
  // No valid storage credentials (none fetched yet, or the source keeps failing) and no
  // fleet: nothing can be served.
  if (report.credentials && !report.credentials->available && !report.fleetConfigured)
    return ReadyState::kNotReady;
  if (report.redisEnabled && !report.redis.ok) return ReadyState::kDegraded;
  if (report.callIndexes && !report.callIndexes->ok) return ReadyState::kDegraded;
  return ReadyState::kReady;
}

void probeReadiness(const OpsDependencies& deps, std::function<void(const ReadinessReport&)> done) {
  // The checks answer asynchronously; this collects them and reports once.
  struct Probe {
    ReadinessReport report;
    int outstanding = 2;
    std::function<void(const ReadinessReport&)> done;
    std::function<void(ReadyState)> onReadyState;
    void settle() {
      if (--outstanding > 0) return;
      if (onReadyState) onReadyState(overallReadiness(report));
      done(report);
    }
  };
  auto probe = std::make_shared<Probe>();
  probe->done = std::move(done);
  probe->onReadyState = deps.onReadyState;
  probe->report.storage =
      deps.storageStatus ? deps.storageStatus() : DependencyStatus{false, "not configured"};
  probe->report.fleetConfigured = deps.fleetConfigured && deps.fleetConfigured();
  probe->report.redisEnabled = deps.redis != nullptr;
  if (deps.breakerStates) probe->report.breakers = deps.breakerStates();
  if (deps.storageCredentials) probe->report.credentials = deps.storageCredentials();
  // The indexes are asked for only of a MongoDB that answers: a dead one would hold a
  // second worker thread for the whole server-selection timeout.
  deps.mongo->ping([probe, last = deps.lastMongoStatus, checkIndexes = deps.checkCallIndexes,
                    lastIndexes = deps.lastCallIndexes](storage::MongoStatus s) {
    probe->report.mongo = {s.ok, s.reason};
    if (last) *last = probe->report.mongo;
    if (!s.ok || !checkIndexes) {
      probe->settle();
      return;
    }
    checkIndexes([probe, lastIndexes](DependencyStatus indexes) {
      probe->report.callIndexes = indexes;
      if (lastIndexes) *lastIndexes = indexes;
      probe->settle();
    });
  });
  if (!deps.redis) {
    probe->report.redis = {false, "disabled by configuration"};
    probe->settle();
  } else {
    // With Sentinel, say which master is in use: a failover shows here.
    std::string where = deps.redis->usesSentinels() ? " (master " + deps.redis->describeAddress() + ")" : "";
    deps.redis->command({"PING"}, [probe, where](const storage::RedisReply& r) {
      probe->report.redis =
          r.ok() ? DependencyStatus{true, "ping ok" + where} : DependencyStatus{false, r.text};
      probe->settle();
    });
  }
}

ReadyState refreshReadyState(const OpsDependencies& deps) {
  ReadinessReport report;
  report.mongo = deps.lastMongoStatus ? *deps.lastMongoStatus : DependencyStatus{false, "not asked yet"};
  report.storage = deps.storageStatus ? deps.storageStatus() : DependencyStatus{false, "not configured"};
  report.fleetConfigured = deps.fleetConfigured && deps.fleetConfigured();
  report.redisEnabled = deps.redis != nullptr;
  if (deps.redis) report.redis = {deps.redis->connected(), deps.redis->lastError()};
  if (deps.lastCallIndexes) report.callIndexes = *deps.lastCallIndexes;
  ReadyState state = overallReadiness(report);
  if (deps.onReadyState) deps.onReadyState(state);
  return state;
}

namespace {

// A source that cannot be reached (a certificate that cannot be verified above all)
// outweighs "configured" for storage; the fleet's reason names every host that fails.
DependencyStatus applyReachability(const std::vector<fleet::SourceReachability>& sources,
                                   DependencyStatus& storage) {
  DependencyStatus hosts{true, ""};
  size_t fleetHosts = 0;
  for (const auto& s : sources) {
    if (s.kind == fleet::Source::Kind::kStorage) {
      if (!s.ok) storage = {false, s.reason};
      continue;
    }
    ++fleetHosts;
    if (s.ok) continue;
    hosts.ok = false;
    hosts.reason += (hosts.reason.empty() ? "" : "; ") + s.reason;
  }
  if (hosts.ok) hosts.reason = fleetHosts ? std::to_string(fleetHosts) + " host(s) answer" : "none configured";
  return hosts;
}

void writeReadiness(reactor::HttpExchange& ex, const ReadinessReport& report,
                    const std::optional<DependencyStatus>& fleet, bool detailed) {
  ReadyState state = overallReadiness(report);
  bool ready = state != ReadyState::kNotReady;  // degraded still serves: keep it in the pool
  reactor::JsonWriter w;
  w.beginObject().field("ready", ready).field("status", readyStateName(state));
  if (detailed) {
    auto part = [&](const char* name, const DependencyStatus& s) {
      w.key(name).beginObject().field("ok", s.ok).field("reason", s.reason).endObject();
    };
    part("mongo", report.mongo);
    if (report.callIndexes) part("call_indexes", *report.callIndexes);
    part("redis", report.redis);
    w.key("storage").beginObject().field("ok", report.storage.ok).field("reason", report.storage.reason);
    if (const auto& c = report.credentials) {
      w.key("credentials").beginObject();
      w.field("source", c->source).field("available", c->available).field("temporary", c->temporary);
      w.key("expires_in_s");
      if (c->expiresInSeconds)
        w.value(*c->expiresInSeconds);
      else
        w.null();
      w.field("last_error", c->lastError).endObject();
    }
    w.endObject();
    if (fleet) part("fleet", *fleet);
    w.field("fleet_configured", report.fleetConfigured);
    w.key("breakers").beginObject();
    for (const auto& [origin, s] : report.breakers) w.field(origin, s);
    w.endObject();
  }
  w.endObject();
  ex.reply(ready ? 200 : 503, w.str());
}

void answerReadiness(reactor::HttpServer& server, const OpsDependencies& deps, reactor::HttpExchange& ex,
                     bool detailed) {
  reactor::ExchangeRef request(server, ex.id());
  if (!detailed || !deps.checkUpstreams) {
    probeReadiness(deps, [request, detailed](const ReadinessReport& report) {
      request.with([&](reactor::HttpExchange& ex) { writeReadiness(ex, report, std::nullopt, detailed); });
    });
    return;
  }
  // The details also say whether storage and each fleet host answer (TLS included): both
  // checks run at once and the answer waits for the two.
  struct Pending {
    std::optional<ReadinessReport> report;
    std::optional<std::vector<fleet::SourceReachability>> sources;
  };
  auto pending = std::make_shared<Pending>();
  auto settle = [request, pending] {
    if (!pending->report || !pending->sources) return;
    ReadinessReport report = *pending->report;
    DependencyStatus fleet = applyReachability(*pending->sources, report.storage);
    request.with([&](reactor::HttpExchange& ex) { writeReadiness(ex, report, fleet, true); });
  };
  deps.checkUpstreams([pending, settle](const std::vector<fleet::SourceReachability>& sources) {
    pending->sources = sources;
    settle();
  });
  probeReadiness(deps, [pending, settle](const ReadinessReport& report) {
    pending->report = report;
    settle();
  });
}

}  // namespace

void registerOpsRoutes(reactor::HttpServer& server, OpsDependencies deps, OpsExposure exposure) {
  server.route(reactor::kGet | reactor::kHead, "/healthz", "healthz",
               [](reactor::HttpExchange& ex) { ex.reply(200, R"({"status":"ok"})"); });

  const bool opsListener = exposure == OpsExposure::kOps;
  server.route(reactor::kGet | reactor::kHead, "/readyz", "readyz",
               [deps, opsListener, &server](reactor::HttpExchange& ex) {
                 bool detailed = opsListener;
                 // A caller that presents credentials wants the details: a wrong or
                 // non-admin token gets 401/403 rather than a silently shorter answer.
                 if (!detailed && ex.header("Authorization")) {
                   if (!requireAdmin(ex, deps.jwt)) return;
                   detailed = true;
                 }
                 answerReadiness(server, deps, ex, detailed);
               });

  if (exposure == OpsExposure::kPublic) return;
  server.route(reactor::kGet, "/metrics", "metrics", [deps, &server](reactor::HttpExchange& ex) {
    if (deps.refreshGauges) deps.refreshGauges();
    std::string own = (deps.metrics ? *deps.metrics : server.metrics()).render();
    ex.reply(200, deps.mergeMetrics ? deps.mergeMetrics(own) : own,
             "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace recgw::handlers
