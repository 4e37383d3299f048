#include "app/gateway.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <optional>

#include <algorithm>

#include "handlers/admin_cache.h"
#include "handlers/link_stats.h"
#include "handlers/api_key_auth.h"
#include "handlers/diagnose.h"
#include "handlers/failed_lookup_limiter.h"
#include "handlers/fleet_reports.h"
#include "handlers/jwt_verifier.h"
#include "handlers/lifecycle.h"
#include "handlers/object_serving.h"
#include "handlers/openapi.h"
#include "handlers/ops.h"
#include "handlers/recordings.h"
#include "handlers/signed_urls.h"
#include "handlers/stream_relay.h"
#include "reactor/allocator.h"
#include "reactor/curl_multi.h"
#include "storage/call_indexes.h"
#include "storage/call_store.h"
#include "storage/credentials_provider.h"
#include "storage/invalidation_bus.h"
#include "storage/lookup_cache.h"
#include "storage/storage_settings.h"
#include "reactor/event_loop.h"
#include "reactor/http_server.h"
#include "reactor/logger.h"
#include "reactor/metrics.h"
#include "reactor/metrics_merge.h"
#include "reactor/worker_pool.h"
#include "storage/mongo_client.h"
#include "storage/redis_client.h"
#include "storage/url_redaction.h"

namespace recgw::app {
storage::CredentialSourceSettings credentialSourceFrom(const Config& c) {
  storage::CredentialSourceSettings s;
  s.kind = c.s3.credentials;
  s.stsEndpoint = c.s3.stsEndpoint;
  // MinIO and other S3-compatible services answer STS on their S3 endpoint.
  bool onAws = c.s3.endpoint.find("amazonaws.com") != std::string::npos;
  if (s.stsEndpoint.empty() && !c.s3.endpoint.empty() && !onAws) {
    s.stsEndpoint = storage::endpointUrl(c.s3.endpoint);
  }
  s.region = c.s3.endpoint.empty() ? c.s3.region : storage::regionFromEndpoint(c.s3.endpoint, c.s3.region);
  s.roleArn = c.s3.roleArn;
  s.roleSessionName = c.s3.roleSessionName;
  s.roleDuration = std::chrono::seconds(c.s3.roleDurationS);
  return s;
}

storage::StorageValues storageValuesFrom(const Config& c) {
  storage::StorageValues v;
  v.endpoint = c.s3.endpoint;
  v.accessKey = c.s3.accessKey;
  v.secretKey = c.s3.secretKey;
  v.bucket = c.s3.bucket;
  v.region = c.s3.region;
  v.addressing = c.s3.addressing == "auto" ? "" : c.s3.addressing;
  v.fleetUrls = c.fleet.urls;
  v.fleetSecret = c.fleet.secret;
  v.fleetSecretHeader = c.fleet.secretHeader;
  v.caFile = c.s3.caFile;
  v.fleetCaFile = c.fleet.caFile;
  v.keysFromProvider = !c.s3.keysFromSettings();
  return v;
}

// Buckets for this many client addresses (about 25 bytes each: 2.5 MB for the public route).
constexpr size_t kFailedLookupAddresses = 100000;
constexpr size_t kDiagnosisAddresses = 4096;  // an admin route: few addresses

SharedByWorkers createSharedByWorkers() {
  SharedByWorkers shared;
  shared.metricsDirectory = reactor::createMetricsDirectory();
  if (!shared.metricsDirectory.empty()) {
    reactor::logInfo("metrics directory", {{"directory", shared.metricsDirectory}});
  }
  shared.failedLookups = handlers::FailedLookupTable::createShared(kFailedLookupAddresses);
  shared.diagnoses = handlers::FailedLookupTable::createShared(kDiagnosisAddresses);
  return shared;
}

void releaseSharedByWorkers(SharedByWorkers& shared) {
  reactor::removeMetricsDirectory(shared.metricsDirectory);
  shared.metricsDirectory.clear();
  shared.failedLookups.reset();
  shared.diagnoses.reset();
}

fleet::BreakerSettings breakerSettingsFrom(const Config& c) {
  fleet::BreakerSettings b;
  b.failureThreshold = static_cast<int>(c.stream.breakerFailures);
  b.coolDown = std::chrono::milliseconds(c.stream.breakerCooldownMs);
  return b;
}

fleet::UpstreamTimeouts timeoutsFrom(const Config& c) {
  fleet::UpstreamTimeouts t;
  t.connect = std::chrono::milliseconds(c.stream.connectTimeoutMs);
  t.firstByte = std::chrono::milliseconds(c.stream.firstByteTimeoutMs);
  t.lowSpeedBytes = static_cast<long>(c.stream.lowSpeedBytes);
  t.lowSpeedTime = std::chrono::seconds(c.stream.lowSpeedTimeS);
  return t;
}

namespace {

using namespace std::chrono_literals;

handlers::LifecycleSettings lifecycleSettingsFrom(const Config& c) {
  const LifecycleConfig& l = c.lifecycle;
  handlers::LifecycleSettings s;
  s.roomsCollection = l.roomsCollection;
  s.recordingsCollection = l.recordingsCollection;
  s.transitionsCollection = l.transitionsCollection;
  s.archiveBucket = l.archiveBucket;
  s.archiveStorageClass = l.archiveStorageClass;
  s.hot = {l.hotEndpoint, l.hotAccessKey, l.hotSecretKey, l.hotBucket, l.hotRegion, l.hotAddressing};
  s.archive = {l.archiveEndpoint, l.archiveAccessKey, l.archiveSecretKey,
               l.archiveBucket,   l.archiveRegion,    l.archiveAddressing};
  s.archivePartBytes = static_cast<uint64_t>(l.archivePartBytes);
  s.archiveMaxConcurrent = static_cast<int>(l.archiveMaxConcurrent);
  s.archiveResumeAfter = std::chrono::seconds(l.archiveResumeAfterS);
  s.providerUrl = l.providerUrl;
  s.providerToken = l.providerToken;
  s.providerConnectTimeout = std::chrono::milliseconds(l.providerConnectTimeoutMs);
  s.providerTimeout = std::chrono::milliseconds(l.providerTimeoutMs);
  s.providerRetries = static_cast<int>(l.providerRetries);
  s.providerBackoff = std::chrono::milliseconds(l.providerBackoffMs);
  s.pollPeriod = std::chrono::seconds(l.pollPeriodS);
  s.pollBatch = static_cast<int>(l.pollBatch);
  s.linkWindow = std::chrono::seconds(l.linkWindowS);
  s.downloadUrlTtl = std::chrono::seconds(l.downloadUrlTtlS);
  s.s3Timeout = std::chrono::milliseconds(l.s3TimeoutMs);
  return s;
}

reactor::HttpLimits limitsFrom(const Config& c) {
  reactor::HttpLimits l;
  l.maxHeaderBytes = static_cast<size_t>(c.server.maxHeaderBytes);
  l.maxBodyBytes = static_cast<size_t>(c.server.maxBodyBytes);
  l.clientTimeout = std::chrono::seconds(std::max<int64_t>(1, c.server.clientTimeoutMs / 1000));
  l.maxConnections = static_cast<size_t>(c.server.maxConnections);
  l.headerTimeout = std::chrono::milliseconds(c.server.headerTimeoutMs);
  l.streamKernelUnsentBytes = static_cast<size_t>(c.stream.kernelUnsentBytes);
  return l;
}

handlers::RelayLimits relayLimitsFrom(const Config& c) {
  handlers::RelayLimits l;
  l.highWatermark = static_cast<size_t>(c.stream.highWatermark);
  l.lowWatermark = static_cast<size_t>(c.stream.lowWatermark);
  l.globalBudgetBytes = static_cast<size_t>(c.stream.globalBudgetBytes);
  l.parkAfter = std::chrono::milliseconds(c.stream.parkAfterMs);
  l.spliceBodies = c.stream.splice;
  return l;
}

// Null when no key is configured: admin routes then answer 401.
std::unique_ptr<handlers::JwtVerifier> jwtFrom(const Config& c) {
  handlers::JwtConfig jc;
  if (!c.jwt.hs256Secret.empty()) jc.hmacSecrets.push_back(c.jwt.hs256Secret);
  jc.publicKeyPems = c.jwt.publicKeyFiles;
  jc.jwksPath = c.jwt.jwksFile;
  jc.leeway = std::chrono::seconds(c.jwt.leewayS);
  jc.issuer = c.jwt.issuer;
  jc.audience = c.jwt.audience;
  jc.roleClaim = c.jwt.roleClaim;
  jc.accountClaim = c.jwt.accountClaim;
  jc.platformAdminRole = c.jwt.platformAdminRole;
  jc.maxLifetime = std::chrono::seconds(c.jwt.maxLifetimeS);
  if (jc.hmacSecrets.empty() && jc.publicKeyPems.empty() && jc.jwksPath.empty()) return nullptr;
  try {
    return std::make_unique<handlers::JwtVerifier>(std::move(jc));
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("jwt: ") + e.what());
  }
}

storage::LookupSettings lookupSettingsFrom(const Config& c) {
  storage::LookupSettings s;
  s.l1Entries = static_cast<size_t>(c.cache.l1Entries);
  s.l1Ttl = std::chrono::seconds(c.cache.l1TtlS);
  s.redisTtlHit = std::chrono::seconds(c.redis.ttlHitS);
  s.redisTtlMiss = std::chrono::seconds(c.redis.ttlMissS);
  s.notReadyTtl = std::chrono::seconds(c.publicLinks.notReadyTtlS);
  return s;
}

handlers::PublicLinkSettings publicLinkSettingsFrom(const Config& c) {
  handlers::PublicLinkSettings s;
  s.retryAfterS = c.publicLinks.retryAfterS;
  s.downloadName = c.publicLinks.downloadName;
  s.redirectAlways = c.publicLinks.mode == "redirect";
  s.redirectTtlS = c.publicLinks.redirectTtlS;
  return s;
}

storage::LinkAnalyticsSettings analyticsSettingsFrom(const Config& c) {
  storage::LinkAnalyticsSettings s;
  s.flushInterval = std::chrono::milliseconds(c.analytics.flushMs);
  s.leakClientsPerHour = c.analytics.leakClientsPerHour;
  return s;
}

storage::ObjectCacheSettings objectCacheSettingsFrom(const Config& c) {
  storage::ObjectCacheSettings s;
  s.budgetBytes = static_cast<size_t>(c.cache.objectsBytes);
  s.maxObjectBytes = static_cast<size_t>(c.cache.objectMaxBytes);
  s.fresh = std::chrono::seconds(c.cache.objectFreshS);
  s.admitAfter = static_cast<unsigned>(c.cache.objectAdmitAfter);
  return s;
}

void applyLogLevel(const Config& c) {
  reactor::LogLevel level;
  if (reactor::Logger::parseLevel(c.server.logLevel, level)) reactor::Logger::setLevel(level);
}

class Worker {
 public:
  Worker(const Config& config, int index, const SharedByWorkers& shared)
      : config_(config),
        index_(index),
        server_(loop_, metrics_, limitsFrom(config)),
        mongoWorkers_(loop_, static_cast<size_t>(config.mongo.threads),
                      static_cast<size_t>(config.mongo.maxQueue)),
        mongo_(mongoWorkers_, config.mongo.uri, std::chrono::milliseconds(config.mongo.timeoutMs),
               static_cast<size_t>(config.mongo.threads)),
        curl_(loop_),
        settings_(loop_, mongo_, config.mongo.settingsCollection, storageValuesFrom(config),
                  std::chrono::seconds(config.mongo.settingsRefreshS)),
        credentials_(makeCredentialsProvider(config, index)),
        signer_(settings_, config.s3.sessionToken, credentials_.get()),
        breakers_(breakerSettingsFrom(config)),
        relays_(loop_, curl_, metrics_, relayLimitsFrom(config), &breakers_),
        objectCache_(objectCacheSettingsFrom(config)),
        objects_(objectCache_, relays_, loop_, metrics_,
                 [this] {
                   const storage::StorageSettings& s = signer_.settings();
                   if (!s.storageComplete()) return std::string();
                   storage::S3Location location = s.location();
                   return location.endpoint + "/" + location.bucket;
                 }),
        calls_(mongo_, config.mongo.callsCollection),
        jwt_(jwtFrom(config)),
        publisher_(shared.metricsDirectory, index),
        publishTimer_(loop_,
                      [this] {
                        refreshGauges();
                        publisher_.publish(metrics_.render());
                      }),
        drainTimer_(loop_, [this] { checkDrained(); }),
        terminate_(loop_, SIGTERM, [this] { beginShutdown("SIGTERM"); }),
        interrupt_(loop_, SIGINT, [this] { beginShutdown("SIGINT"); }),
        hangup_(loop_, SIGHUP, [this] { reload(); }) {
    if (config.stream.upstreamClient == "curl") curl_.useCurlOnly();
    if (config.redis.enabled) {
      auto address = storage::parseRedisUrl(config.redis.url, redisOverridesFrom(config.redis));
      if (!address) throw std::runtime_error("redis.url: " + address.error().message);
      redis_ = std::make_unique<storage::RedisClient>(loop_, *address,
                                                      std::chrono::milliseconds(config.redis.timeoutMs));
      if (!config.redis.sentinels.empty()) redis_->useSentinels(redisSentinelsFrom(config.redis));
      metrics_.describe("recgw_redis_connected", reactor::Metrics::Type::kGauge,
                        "1 while Redis is connected");
      metrics_.set("recgw_redis_connected", {}, 0);
      redis_->setOnStateChange([this](bool up, const std::string&) {
        metrics_.set("recgw_redis_connected", {}, up ? 1 : 0);
        if (!up) metrics_.inc("recgw_redis_disconnects_total");
      });
      redis_->start();
      // The invalidation bus' subscriber: its own connection, logging in as the one above.
      auto subscriber = std::make_unique<storage::RedisClient>(
          loop_, *address, std::chrono::milliseconds(config.redis.timeoutMs));
      if (!config.redis.sentinels.empty()) subscriber->useSentinels(redisSentinelsFrom(config.redis));
      bus_ = std::make_unique<storage::InvalidationBus>(redis_.get(), std::move(subscriber), metrics_);
      bus_->start();
    }
    handlers::OpsDependencies ops;
    ops.mongo = &mongo_;
    ops.redis = redis_.get();
    ops.storageStatus = [this] { return storageStatus(); };
    ops.checkCallIndexes = [this](std::function<void(handlers::DependencyStatus)> done) {
      checkCallIndexes(std::move(done));
    };
    ops.checkUpstreams = [this](fleet::Reachability::Done done) {
      if (!reachability_) return done({});
      reachability_->check(std::move(done));
    };
    ops.fleetConfigured = [this] { return !settings_.current().values.fleetUrls.empty(); };
    metrics_.describe("recgw_ready_state", reactor::Metrics::Type::kGauge,
                      "Readiness per worker: 2 ready, 1 degraded (e.g. Redis down), 0 not ready");
    ops.onReadyState = [this](handlers::ReadyState state) {
      metrics_.set("recgw_ready_state", reactor::Metrics::label("worker", std::to_string(index_)),
                   static_cast<double>(state));
    };
    ops.storageCredentials = [this]() -> std::optional<handlers::StorageCredentialsView> {
      if (!credentials_) return std::nullopt;
      storage::CredentialsStatus s = credentials_->status();
      return handlers::StorageCredentialsView{s.source, s.available, s.temporary, s.expiresInSeconds,
                                              s.lastError};
    };
    ops.breakerStates = [this] {
      std::vector<std::pair<std::string, std::string>> out;
      for (const auto& [origin, state] : breakers_.snapshot())
        out.emplace_back(origin, fleet::breakerStateName(state));
      return out;
    };
    metrics_.describe("recgw_breaker_state", reactor::Metrics::Type::kGauge,
                      "Circuit breaker per origin: 0 closed, 1 open, 2 half-open");
    metrics_.describe("recgw_breaker_transitions_total", reactor::Metrics::Type::kCounter,
                      "Circuit breaker state changes, by origin and new state");
    breakers_.setOnChange([this](const std::string& origin, fleet::BreakerState from,
                                 fleet::BreakerState to) {
      reactor::logWarn("circuit breaker", {{"origin", origin},
                                           {"change", std::string(fleet::breakerStateName(from)) + " -> " +
                                                          fleet::breakerStateName(to)}});
      metrics_.set("recgw_breaker_state", reactor::Metrics::label("origin", origin), static_cast<double>(to));
      metrics_.inc("recgw_breaker_transitions_total",
                   reactor::Metrics::label("origin", origin) + "," +
                       reactor::Metrics::label("state", fleet::breakerStateName(to)));
    });
    ops.refreshGauges = [this] { refreshGauges(); };
    ops.mergeMetrics = [this](const std::string& own) { return publisher_.mergedWith(own); };
    ops.metrics = &metrics_;
    ops.jwt = jwt_.get();
    publishTimer_.startPeriodic(std::chrono::seconds(1));
    // recgw_ready_state: one full probe now (MongoDB included), then each /readyz, and
    // refreshGauges() (every second and on each scrape) for Redis, storage and fleet.
    handlers::probeReadiness(ops, [](const handlers::ReadinessReport&) {});
    readyOps_ = ops;
    metrics_.describe("recgw_upstream_transfers_active", reactor::Metrics::Type::kGauge,
                      "Upstream transfers in flight (storage and fleet)");
    metrics_.describe("recgw_mongo_queue_depth", reactor::Metrics::Type::kGauge,
                      "MongoDB jobs waiting for a worker thread");
    if (!config.server.opsListen.empty()) {
      opsServer_ = std::make_unique<reactor::HttpServer>(loop_, opsMetrics_, limitsFrom(config));
      handlers::registerOpsRoutes(*opsServer_, ops, handlers::OpsExposure::kOps);
      handlers::registerOpsRoutes(server_, ops, handlers::OpsExposure::kPublic);
    } else {
      handlers::registerOpsRoutes(server_, ops, handlers::OpsExposure::kPublicWithMetrics);
    }

    auto recordings = std::make_shared<handlers::RecordingsContext>();
    lookups_ =
        std::make_unique<storage::LookupCache>(calls_, redis_.get(), metrics_, lookupSettingsFrom(config));
    lookups_->useInvalidationBus(bus_.get());
    if (bus_) {
      // Revocation, rotation and admin evictions of any worker of any gateway drop this
      // worker's copy of the bytes too: by the object's key when the publisher knew it, else
      // by the name the copy was asked for here.
      bus_->addListener([this](const storage::InvalidationEvent& event) {
        if (!event.storageKey.empty()) objects_.dropObject(event.storageKey);
        if (!event.objectOnly) objects_.dropAlias(event.cacheKey());
      });
    }
    calls_.setRevokedCollection(config.publicLinks.revokedCollection);
    recordings->publicLinks = publicLinkSettingsFrom(config);
    recordings->curl = &curl_;
    analytics_ = std::make_unique<storage::LinkAnalytics>(loop_, redis_.get(), metrics_,
                                                          analyticsSettingsFrom(config));
    recordings->analytics = analytics_.get();
    recordingsContext_ = recordings;
    recordings->resolve = [this](storage::LookupField field, const std::string& value,
                                 std::function<void(storage::CallRecord, std::string, std::string)> done,
                                 std::function<bool()> mongoAdmission) {
      lookups_->resolve(field, value, std::move(done), std::move(mongoAdmission));
    };
    recordings->noteSource = [this](storage::LookupField field, const std::string& value,
                                    const std::string& label) { lookups_->noteSource(field, value, label); };
    // Always present, so a reload can turn it on or off (0 per minute = no limit).
    // Shared by every worker when the supervisor made the table: the budget is per gateway.
    limiter_ = std::make_unique<handlers::FailedLookupLimiter>(
        shared.failedLookups ? shared.failedLookups
                             : handlers::FailedLookupTable::createPrivate(kFailedLookupAddresses),
        static_cast<double>(config.cache.failedLookupsPerMinute),
        static_cast<double>(config.cache.failedLookupsBurst));
    recordings->limiter = limiter_.get();
    recordings->trustedProxies = config.server.trustedProxies;
    metrics_.describe("recgw_rate_limited_total", reactor::Metrics::Type::kCounter,
                      "Public lookups refused (429) after too many failures from one address");
    recordings->signer = &signer_;
    recordings->relays = &relays_;
    recordings->objects = &objects_;
    if (credentials_) {
      relays_.setCredentialRefresher([this](const storage::SigV4Signer* refused,
                                            std::function<void(std::shared_ptr<storage::SigV4Signer>)> done) {
        std::shared_ptr<storage::SigV4Signer> current = signer_.shared();
        if (current && current.get() != refused) {
          // Already refreshed since that request was signed.
          loop_.defer([done, current] { done(current); });
          return;
        }
        credentials_->refreshNow(credentials_->generation(), [this, done](bool) { done(signer_.shared()); });
      });
    }
    recordings->jwt = jwt_.get();
    recordings->timeouts = timeoutsFrom(config);
    reachability_ = std::make_unique<fleet::Reachability>(
        curl_, [recordings] { return handlers::makeSourceChain(*recordings, "recgw-readiness-probe"); },
        std::chrono::seconds(10), [this] { return settings_.generation(); });
    auto lifecycle = std::make_shared<handlers::LifecycleContext>();
    lifecycle->mongo = &mongo_;
    lifecycle->curl = &curl_;
    lifecycle->signer = &signer_;
    lifecycle->jwt = jwt_.get();
    lifecycle->loop = &loop_;
    lifecycle->metrics = &metrics_;
    lifecycle->settings = lifecycleSettingsFrom(config);
    // Every worker of every gateway drops its copy (the bus applies it here too).
    lifecycle->objectGone = [this](const std::string& key) {
      if (bus_)
        bus_->publish(storage::InvalidationEvent::forObject(key, "lifecycle"));
      else
        objects_.dropObject(key);
    };
    handlers::registerLifecycleRoutes(server_, lifecycle);
    handlers::startLifecyclePoller(lifecycle);
    handlers::registerRecordingRoutes(server_, recordings);
    auto adminCache = std::make_shared<handlers::AdminCacheContext>();
    adminCache->cache = lookups_.get();
    adminCache->mongo = &mongo_;
    adminCache->callsCollection = config.mongo.callsCollection;
    adminCache->jwt = jwt_.get();
    adminCache->objects = &objects_;
    handlers::registerAdminCacheRoutes(server_, adminCache);
    auto signedUrls = std::make_shared<handlers::SignedUrlContext>();
    signedUrls->recordings = recordings;
    signedUrls->mongo = &mongo_;
    signedUrls->callsCollection = config.mongo.callsCollection;
    signedUrls->cache = lookups_.get();
    signedUrls->curl = &curl_;
    signedUrls->publicBaseUrl = config.server.publicBaseUrl;
    signedUrls->revokedCollection = config.publicLinks.revokedCollection;
    apiKeys_ = std::make_unique<handlers::ApiKeyVerifier>(mongo_, config.apiKeys.collection,
                                                          std::chrono::seconds(config.apiKeys.cacheS));
    signedUrls->apiKeys = apiKeys_.get();
    handlers::registerSignedUrlRoutes(server_, signedUrls);
    fleetReports_ = std::make_shared<handlers::FleetReportContext>();
    fleetReports_->recordings = recordings;
    fleetReports_->mongo = &mongo_;
    fleetReports_->callsCollection = config.mongo.callsCollection;
    fleetReports_->revokedCollection = config.publicLinks.revokedCollection;
    fleetReports_->cache = lookups_.get();
    fleetReports_->curl = &curl_;
    fleetReports_->objects = std::make_unique<storage::S3Objects>(
        loop_, curl_, storage::S3Timeouts{recordings->timeouts.connect, recordings->timeouts.firstByte});
    fleetReports_->metrics = &metrics_;
    fleetReports_->publicBaseUrl = config.server.publicBaseUrl;
    fleetReports_->reportSkewS = config.fleet.reportSkewS;
    handlers::registerFleetReportRoutes(server_, fleetReports_);
    auto linkStats = std::make_shared<handlers::LinkStatsContext>();
    linkStats->redis = redis_.get();
    linkStats->jwt = jwt_.get();
    handlers::registerLinkStatsRoute(server_, linkStats);
    handlers::registerOpenApiRoute(server_);
    auto diagnosis = std::make_shared<handlers::DiagnoseRouteContext>();
    diagnosis->deps = diagnoseDependencies(config);
    diagnosis->jwt = jwt_.get();
    diagnosis->limiter = std::make_unique<handlers::FailedLookupLimiter>(
        shared.diagnoses ? shared.diagnoses : handlers::FailedLookupTable::createPrivate(kDiagnosisAddresses),
        30.0, 10.0);
    diagnosis->trustedProxies = config.server.trustedProxies;
    handlers::registerDiagnoseRoute(server_, diagnosis);
    installCors();
    settings_.start();
    if (credentials_) credentials_->start();
    server_.listen(config.listenHost(), config.listenPort());
    if (opsServer_) opsServer_->listen(config.opsListenHost(), config.opsListenPort());
  }

  ~Worker() {
    // Worker threads may hold pooled MongoDB clients: join them before the pool goes.
    mongoWorkers_.shutdown();
  }

  int run() {
    reactor::logInfo("worker listening", {{"listen", config_.server.listen},
                                          {"ops_listen", config_.server.opsListen},
                                          {"worker", std::to_string(index_)},
                                          {"allocator", reactor::allocatorDescription()},
                                          {"upstream_client", config_.stream.upstreamClient},
                                          {"splice", config_.stream.splice ? "on" : "off"}});
    loop_.run();
    reactor::logInfo("worker stopped", {{"worker", std::to_string(index_)}});
    return 0;
  }

 private:
  void refreshGauges() {
    if (readyOps_.mongo) handlers::refreshReadyState(readyOps_);
    metrics_.set("recgw_mongo_queue_depth", {}, static_cast<double>(mongoWorkers_.queued()));
    metrics_.set("recgw_streams_paused", {}, static_cast<double>(relays_.paused()));
    metrics_.set("recgw_streams_parked", {}, static_cast<double>(relays_.parked()));
    metrics_.set("recgw_streams_unsent_bytes", {}, static_cast<double>(relays_.unsentBytes()));
    metrics_.set("recgw_upstream_transfers_active", {}, static_cast<double>(curl_.active()));
    objects_.publishGauges();
    if (credentials_) credentials_->publishGauges();
  }

  // Null for plain static keys (signed straight from the settings); otherwise the source,
  // with STS AssumeRole on top when s3.role_arn is set.
  std::unique_ptr<storage::CredentialsProvider> makeCredentialsProvider(const Config& c, int index) {
    if (c.s3.keysFromSettings() && c.s3.roleArn.empty()) return nullptr;
    storage::CredentialSourceSettings s = credentialSourceFrom(c);
    s.staticKeys = [this] {
      const storage::StorageValues& v = settings_.current().values;
      return storage::AwsCredentials{v.accessKey, v.secretKey, config_.s3.sessionToken, std::nullopt};
    };
    storage::CredentialsRefreshSettings r;
    r.refreshMargin = std::chrono::seconds(c.s3.credentialsRefreshMarginS);
    r.gaugeLabels = reactor::Metrics::label("worker", std::to_string(index));
    auto source = storage::makeCredentialSource(loop_, curl_, s);
    return std::make_unique<storage::CredentialsProvider>(loop_, std::move(source), r, &metrics_);
  }

  handlers::DiagnoseDependencies diagnoseDependencies(const Config& config) {
    handlers::DiagnoseDependencies d;
    d.loop = &loop_;
    d.mongo = &mongo_;
    d.callsCollection = config.mongo.callsCollection;
    d.settingsCollection = config.mongo.settingsCollection;
    d.redis = redis_.get();
    d.cache = lookups_.get();
    d.curl = &curl_;
    d.configStorage = storageValuesFrom(config);
    d.timeouts = timeoutsFrom(config);
    d.credentials = credentialSourceFrom(config);
    d.sessionToken = config.s3.sessionToken;
    return d;
  }

  // /readyz asks on every probe; listIndexes is cheap but load balancers probe often, so a
  // good answer is reused for a minute, a bad one for 5 s (an operator who just ran
  // ensure-indexes sees it soon). A missing index is logged when first seen.
  void checkCallIndexes(std::function<void(handlers::DependencyStatus)> done) {
    auto now = std::chrono::steady_clock::now();
    auto reuseFor =
        callIndexes_.status && callIndexes_.status->ok ? std::chrono::seconds(60) : std::chrono::seconds(5);
    if (callIndexes_.status && now - callIndexes_.checkedAt < reuseFor) {
      done(*callIndexes_.status);
      return;
    }
    storage::checkCallIndexes(
        mongo_, config_.mongo.callsCollection,
        [this, now, done = std::move(done)](const Expected<storage::CallIndexReport>& report) {
          handlers::DependencyStatus status;
          if (!report) {
            // Unknown (MongoDB down, or listIndexes not allowed): the mongo check speaks for
            // the first; the second must not take a gateway out of service.
            status = {true, "not checked: " + report.error().message};
          } else if (!report->collectionExists) {
            status = {true, "collection " + config_.mongo.callsCollection + " does not exist yet"};
          } else if (report->missing.empty()) {
            status = {true, "present"};
          } else {
            status = {false,
                      "missing on " + config_.mongo.callsCollection + ": " +
                          storage::describeMissing(report->missing) +
                          " (lookups that reach MongoDB scan the collection; run recgw ensure-indexes)"};
            if (!callIndexes_.status || callIndexes_.status->reason != status.reason)
              reactor::Logger::log(reactor::LogLevel::kWarn, {}, "mongo_indexes_missing",
                                   {{"detail", status.reason}});
          }
          callIndexes_ = {now, status};
          done(status);
        });
  }

  handlers::DependencyStatus storageStatus() const {
    const auto& s = settings_.current();
    if (!s.storageComplete()) return {false, s.describeMissing()};
    if (credentials_ && !credentials_->current()) {
      storage::CredentialsStatus c = credentials_->status();
      return {false, "storage_credentials_unavailable: " +
                         (c.lastError.empty() ? std::string("first fetch in progress") : c.lastError)};
    }
    return {true, "configured: " + storage::redactUrl(s.values.endpoint) + " bucket " + s.values.bucket};
  }

  // CORS for dashboards on another origin: only configured origins are echoed back.
  void installCors() {
    const auto& origins = config_.server.corsOrigins;
    if (origins.empty()) return;
    server_.setResponseDecorator([this](reactor::HttpExchange& ex) {
      const char* origin = ex.header("Origin");
      if (!origin) return;
      const auto& allowed = config_.server.corsOrigins;
      bool any = std::find(allowed.begin(), allowed.end(), "*") != allowed.end();
      if (!any && std::find(allowed.begin(), allowed.end(), origin) == allowed.end()) return;
      ex.addHeader("Access-Control-Allow-Origin", any ? "*" : origin);
      ex.addHeader("Vary", "Origin");
      ex.addHeader("Access-Control-Expose-Headers",
                   "Content-Range, Content-Length, Accept-Ranges, ETag, Content-Disposition, X-Request-Id");
    });
    auto preflight = [](reactor::HttpExchange& ex) {
      ex.addHeader("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
      ex.addHeader("Access-Control-Allow-Headers",
                   "Range, Authorization, If-None-Match, If-Range, If-Modified-Since");
      ex.addHeader("Access-Control-Max-Age", "600");
      ex.reply(204, "", "");
    };
    server_.route(reactor::kOptions, "/api/v1/public/recordings/{token}", "cors_preflight", preflight);
    server_.route(reactor::kOptions, "/api/v1/recordings/{session_id}", "cors_preflight", preflight);
  }

  void beginShutdown(const char* signalName) {
    if (shuttingDown_) return;
    shuttingDown_ = true;
    shutdownDeadline_ =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.server.shutdownGraceMs);
    reactor::logInfo("worker draining",
                     {{"signal", signalName}, {"in_flight", std::to_string(server_.inFlight())}});
    server_.stopAccepting();
    if (opsServer_) opsServer_->stopAccepting();
    drainTimer_.startPeriodic(20ms);
    checkDrained();
  }

  void checkDrained() {
    bool opsDrained = !opsServer_ || (opsServer_->inFlight() == 0 && opsServer_->unsentBytes() == 0);
    if (server_.inFlight() == 0 && server_.unsentBytes() == 0 && opsDrained) {
      // The last interval of link analytics goes out before the loop stops.
      if (analytics_ && analytics_->pendingTokens() > 0) analytics_->flush();
      if (redis_ && redis_->inFlight() > 0 && std::chrono::steady_clock::now() < shutdownDeadline_) return;
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
      if (opsServer_) opsServer_->setLimits(limitsFrom(config_));
      settings_.setConfig(storageValuesFrom(config_));
      signer_.setSessionToken(config_.s3.sessionToken);
      relays_.setLimits(relayLimitsFrom(config_));
      breakers_.setSettings(breakerSettingsFrom(config_));
      lookups_->setSettings(lookupSettingsFrom(config_));
      recordingsContext_->publicLinks = publicLinkSettingsFrom(config_);
      analytics_->setSettings(analyticsSettingsFrom(config_));
      objectCache_.setSettings(objectCacheSettingsFrom(config_));
      objects_.publishGauges();
      apiKeys_->setCacheTtl(std::chrono::seconds(config_.apiKeys.cacheS));
      fleetReports_->reportSkewS = config_.fleet.reportSkewS;
      if (limiter_) {
        limiter_->configure(static_cast<double>(config_.cache.failedLookupsPerMinute),
                            static_cast<double>(config_.cache.failedLookupsBurst));
      }
    } catch (const std::exception& e) {
      reactor::logError("config reload failed; keeping the old config", {{"error", e.what()}});
    }
  }

  Config config_;
  int index_;
  reactor::EventLoop loop_;
  reactor::Metrics metrics_;
  reactor::HttpServer server_;
  // server.ops_listen (null when unset). Its own traffic is counted apart (opsMetrics_, not
  // exported), so the gauges of the public listener keep their meaning.
  reactor::Metrics opsMetrics_;
  std::unique_ptr<reactor::HttpServer> opsServer_;
  reactor::WorkerPool mongoWorkers_;
  storage::MongoClient mongo_;
  std::unique_ptr<storage::RedisClient> redis_;
  // recgw:invalidate (null with Redis disabled); outlives the caches that listen to it.
  std::unique_ptr<storage::InvalidationBus> bus_;
  reactor::CurlMulti curl_;
  storage::SettingsStore settings_;
  std::unique_ptr<storage::CredentialsProvider> credentials_;
  handlers::StorageSigner signer_;
  fleet::BreakerBoard breakers_;
  handlers::RelayRegistry relays_;
  storage::ObjectCache objectCache_;
  handlers::ObjectServer objects_;  // after relays_ and objectCache_, which it uses
  storage::CallStore calls_;
  struct {
    std::chrono::steady_clock::time_point checkedAt;
    std::optional<handlers::DependencyStatus> status;
  } callIndexes_;
  std::unique_ptr<handlers::JwtVerifier> jwt_;
  std::unique_ptr<storage::LookupCache> lookups_;
  std::shared_ptr<handlers::RecordingsContext> recordingsContext_;  // for SIGHUP
  std::unique_ptr<storage::LinkAnalytics> analytics_;
  std::unique_ptr<handlers::FailedLookupLimiter> limiter_;
  std::unique_ptr<handlers::ApiKeyVerifier> apiKeys_;
  std::shared_ptr<handlers::FleetReportContext> fleetReports_;
  std::unique_ptr<fleet::Reachability> reachability_;  // for /readyz; before curl_ goes
  reactor::MetricsPublisher publisher_;
  reactor::Timer publishTimer_;
  handlers::OpsDependencies readyOps_;  // for refreshReadyState in refreshGauges
  reactor::Timer drainTimer_;
  reactor::SignalWatcher terminate_;
  reactor::SignalWatcher interrupt_;
  reactor::SignalWatcher hangup_;
  bool shuttingDown_ = false;
  std::chrono::steady_clock::time_point shutdownDeadline_;
};

}  // namespace

int runWorker(const Config& config, int workerIndex, const SharedByWorkers& shared) {
  signal(SIGPIPE, SIG_IGN);
  applyLogLevel(config);
  std::unique_ptr<Worker> worker;
  try {
    worker = std::make_unique<Worker>(config, workerIndex, shared);
  } catch (const std::exception& e) {
    reactor::logError("worker start-up failed", {{"error", e.what()}});
    return 2;
  }
  return worker->run();
}

}  // namespace recgw::app
