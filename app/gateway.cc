#include "app/gateway.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <optional>

#include "handlers/ops.h"
#include "reactor/event_loop.h"
#include "reactor/http_server.h"
#include "reactor/logger.h"
#include "reactor/metrics.h"
#include "reactor/worker_pool.h"
#include "storage/mongo_client.h"
#include "storage/redis_client.h"

namespace recgw::app {
namespace {

using namespace std::chrono_literals;

reactor::HttpLimits limitsFrom(const Config& c) {
  reactor::HttpLimits l;
  l.maxHeaderBytes = static_cast<size_t>(c.server.maxHeaderBytes);
  l.maxBodyBytes = static_cast<size_t>(c.server.maxBodyBytes);
  l.clientTimeout = std::chrono::seconds(std::max<int64_t>(1, c.server.clientTimeoutMs / 1000));
  l.maxConnections = static_cast<size_t>(c.server.maxConnections);
  return l;
}

void applyLogLevel(const Config& c) {
  reactor::LogLevel level;
  if (reactor::Logger::parseLevel(c.server.logLevel, level)) reactor::Logger::setLevel(level);
}

class Worker {
 public:
  Worker(const Config& config, int index)
      : config_(config),
        index_(index),
        server_(loop_, metrics_, limitsFrom(config)),
        mongoWorkers_(loop_, static_cast<size_t>(config.mongo.threads), static_cast<size_t>(config.mongo.maxQueue)),
        mongo_(mongoWorkers_, config.mongo.uri, std::chrono::milliseconds(config.mongo.timeoutMs),
               static_cast<size_t>(config.mongo.threads)),
        drainTimer_(loop_, [this] { checkDrained(); }),
        terminate_(loop_, SIGTERM, [this] { beginShutdown("SIGTERM"); }),
        interrupt_(loop_, SIGINT, [this] { beginShutdown("SIGINT"); }),
        hangup_(loop_, SIGHUP, [this] { reload(); }) {
    if (config.redis.enabled) {
      storage::RedisAddress address;
      std::string err = storage::parseRedisUrl(config.redis.url, address);
      if (!err.empty()) throw std::runtime_error("redis.url: " + err);
      redis_ = std::make_unique<storage::RedisClient>(loop_, address,
                                                      std::chrono::milliseconds(config.redis.timeoutMs));
      metrics_.describe("recgw_redis_connected", reactor::Metrics::Type::kGauge, "1 while Redis is connected");
      metrics_.set("recgw_redis_connected", {}, 0);
      redis_->setOnStateChange([this](bool up, const std::string&) {
        metrics_.set("recgw_redis_connected", {}, up ? 1 : 0);
        if (!up) metrics_.inc("recgw_redis_disconnects_total");
      });
      redis_->start();
    }
    handlers::OpsDependencies ops;
    ops.mongo = &mongo_;
    ops.redis = redis_.get();
    ops.storageStatus = [this] { return storageStatus(); };
    ops.refreshGauges = [this] {
      metrics_.set("recgw_mongo_queue_depth", {}, static_cast<double>(mongoWorkers_.queued()));
    };
    metrics_.describe("recgw_mongo_queue_depth", reactor::Metrics::Type::kGauge,
                      "MongoDB jobs waiting for a worker thread");
    handlers::registerOpsRoutes(server_, ops);
    server_.listen(config.listenHost(), config.listenPort());
  }

  ~Worker() {
    // Worker threads may hold pooled MongoDB clients: join them before the pool goes.
    mongoWorkers_.shutdown();
  }

  int run() {
    reactor::logInfo("worker listening", {{"listen", config_.server.listen}, {"worker", std::to_string(index_)}});
    loop_.run();
    reactor::logInfo("worker stopped", {{"worker", std::to_string(index_)}});
    return 0;
  }

 private:
  handlers::DependencyStatus storageStatus() const {
    auto missing = config_.missingStorageFields();
    if (missing.empty()) return {true, "configured: " + config_.s3.endpoint + " bucket " + config_.s3.bucket};
    std::string reason = "incomplete settings, missing:";
    for (const auto& m : missing) reason += " " + m;
    return {false, reason};
  }

  void beginShutdown(const char* signalName) {
    if (shuttingDown_) return;
    shuttingDown_ = true;
    shutdownDeadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.server.shutdownGraceMs);
    reactor::logInfo("worker draining", {{"signal", signalName}, {"in_flight", std::to_string(server_.inFlight())}});
    server_.stopAccepting();
    drainTimer_.startPeriodic(20ms);
    checkDrained();
  }

  void checkDrained() {
    if (server_.inFlight() == 0) {
      loop_.stop();
      return;
    }
    if (std::chrono::steady_clock::now() >= shutdownDeadline_) {
      reactor::logWarn("drain deadline passed; closing in-flight requests",
                       {{"in_flight", std::to_string(server_.inFlight())}});
      loop_.stop();
    }
  }

  void reload() {
    if (config_.sourcePath.empty()) {
      reactor::logInfo("SIGHUP: no config file to reload (running on defaults and environment)");
    }
    try {
      std::optional<std::string> path;
      if (!config_.sourcePath.empty()) path = config_.sourcePath;
      Config fresh = loadConfig(path, environ);
      auto changes = diffConfig(config_, fresh);
      if (changes.empty()) {
        reactor::logInfo("config reloaded: no changes");
      }
      for (const auto& change : changes) reactor::logInfo("config changed", {{"change", change}});
      config_ = fresh;
      applyLogLevel(config_);
      server_.setLimits(limitsFrom(config_));
    } catch (const std::exception& e) {
      reactor::logError("config reload failed; keeping the old config", {{"error", e.what()}});
    }
  }

  Config config_;
  int index_;
  reactor::EventLoop loop_;
  reactor::Metrics metrics_;
  reactor::HttpServer server_;
  reactor::WorkerPool mongoWorkers_;
  storage::MongoClient mongo_;
  std::unique_ptr<storage::RedisClient> redis_;
  reactor::Timer drainTimer_;
  reactor::SignalWatcher terminate_;
  reactor::SignalWatcher interrupt_;
  reactor::SignalWatcher hangup_;
  bool shuttingDown_ = false;
  std::chrono::steady_clock::time_point shutdownDeadline_;
};

}  // namespace

int runWorker(const Config& config, int workerIndex) {
  signal(SIGPIPE, SIG_IGN);
  applyLogLevel(config);
  std::unique_ptr<Worker> worker;
  try {
    worker = std::make_unique<Worker>(config, workerIndex);
  } catch (const std::exception& e) {
    reactor::logError("worker start-up failed", {{"error", e.what()}});
    return 2;
  }
  return worker->run();
}

}  // namespace recgw::app
