#include "handlers/ops.h"

#include <memory>

#include "handlers/recordings.h"
#include "reactor/json_writer.h"
#include "storage/mongo_client.h"
#include "storage/redis_client.h"

namespace recgw::handlers {
namespace {

// /readyz waits for asynchronous checks; this collects them and answers once.
struct ReadinessProbe {
  reactor::HttpServer* server = nullptr;
  uint64_t exchangeId = 0;
  int outstanding = 0;
  bool detailed = false;
  DependencyStatus mongo, redis, storage;
  std::optional<StorageCredentialsView> credentials;
  std::vector<std::pair<std::string, std::string>> breakers;

  void settle() {
    if (--outstanding > 0) return;
    reactor::HttpExchange* ex = server->find(exchangeId);
    if (!ex) return;
    reactor::JsonWriter w;
    bool ready = mongo.ok;  // Redis and storage degrade the service; MongoDB is required
    w.beginObject().field("ready", ready);
    if (detailed) {
      auto part = [&](const char* name, const DependencyStatus& s) {
        w.key(name).beginObject().field("ok", s.ok).field("reason", s.reason).endObject();
      };
      part("mongo", mongo);
      part("redis", redis);
      w.key("storage").beginObject().field("ok", storage.ok).field("reason", storage.reason);
      if (credentials) {
        w.key("credentials").beginObject();
        w.field("source", credentials->source)
            .field("available", credentials->available)
            .field("temporary", credentials->temporary);
        w.key("expires_in_s");
        if (credentials->expiresInSeconds) {
          w.value(*credentials->expiresInSeconds);
        } else {
          w.null();
        }
        w.field("last_error", credentials->lastError).endObject();
      }
      w.endObject();
      w.key("breakers").beginObject();
      for (const auto& [origin, state] : breakers) w.field(origin, state);
      w.endObject();
    }
    w.endObject();
    ex->reply(ready ? 200 : 503, w.str());
  }
};

void startReadiness(reactor::HttpServer& server, const OpsDependencies& deps, reactor::HttpExchange& ex,
                    bool detailed) {
  auto probe = std::make_shared<ReadinessProbe>();
  probe->server = &server;
  probe->exchangeId = ex.id();
  probe->detailed = detailed;
  probe->outstanding = detailed ? 2 : 1;
  if (detailed) {
    probe->storage = deps.storageStatus ? deps.storageStatus() : DependencyStatus{false, "not configured"};
    if (deps.storageCredentials) probe->credentials = deps.storageCredentials();
    if (deps.breakerStates) probe->breakers = deps.breakerStates();
  }
  deps.mongo->ping([probe](storage::MongoStatus s) {
    probe->mongo = {s.ok, s.reason};
    probe->settle();
  });
  if (!detailed) return;
  if (!deps.redis) {
    probe->redis = {false, "disabled by configuration"};
    probe->settle();
  } else {
    deps.redis->command({"PING"}, [probe](const storage::RedisReply& r) {
      probe->redis = r.ok() ? DependencyStatus{true, "ping ok"} : DependencyStatus{false, r.text};
      probe->settle();
    });
  }
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
                 startReadiness(server, deps, ex, detailed);
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
