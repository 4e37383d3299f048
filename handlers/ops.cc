#include "handlers/ops.h"

#include <memory>
#include <optional>

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
  std::optional<DependencyStatus> fleet;  // set when the upstreams were checked
  std::vector<std::pair<std::string, std::string>> breakers;

  // A source that cannot be reached (a certificate that cannot be verified above all)
  // outweighs "configured" for storage; the fleet's reason names every host that fails.
  void applyReachability(const std::vector<fleet::SourceReachability>& sources) {
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
    if (hosts.ok)
      hosts.reason = fleetHosts ? std::to_string(fleetHosts) + " host(s) answer" : "none configured";
    fleet = hosts;
  }

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
      part("storage", storage);
      if (fleet) part("fleet", *fleet);
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
    if (deps.breakerStates) probe->breakers = deps.breakerStates();
    if (deps.checkUpstreams) {
      ++probe->outstanding;
      deps.checkUpstreams([probe](const std::vector<fleet::SourceReachability>& sources) {
        probe->applyReachability(sources);
        probe->settle();
      });
    }
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
