#pragma once
// The effective configuration: built-in defaults, then the TOML file (optional), then
// RECGW_<SECTION>_<KEY> environment variables. Loaded at start-up and on SIGHUP.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace recgw::storage {
struct RedisOverrides;
struct RedisSentinelSettings;
}  // namespace recgw::storage

namespace recgw::app {

struct ServerConfig {
  std::string listen = "127.0.0.1:8080";
  // A second listener for /metrics and detailed /readyz (e.g. "127.0.0.1:9090"); empty = none,
  // and the public listener keeps /metrics.
  std::string opsListen;
  int64_t workers = 0;  // 0 = number of cores
  int64_t maxHeaderBytes = 16 * 1024;
  int64_t maxBodyBytes = 1024 * 1024;
  int64_t clientTimeoutMs = 30000;
  int64_t headerTimeoutMs = 10000;
  int64_t shutdownGraceMs = 10000;
  int64_t maxConnections = 10000;
  std::string publicBaseUrl = "http://127.0.0.1:8080";
  std::string logLevel = "info";
  std::vector<std::string> corsOrigins;
  std::vector<std::string> trustedProxies;
};

struct MongoConfig {
  std::string uri = "mongodb://127.0.0.1:27017/cxb";
  std::string callsCollection = "calls";
  std::string settingsCollection = "system_settings";
  int64_t threads = 4;
  int64_t maxQueue = 4096;
  int64_t timeoutMs = 2000;
  int64_t settingsRefreshS = 30;
};

struct RedisConfig {
  std::string url = "redis://127.0.0.1:6379";
  // Override the URL's user, password and database (so the secret need not sit in a URL).
  std::string username;
  std::string password;
  int64_t database = -1;  // -1 = the URL's (default 0)
  // Redis Sentinel: ask these ("ip:port") for master_name's address; empty = redis.url's host.
  std::vector<std::string> sentinels;
  std::string masterName;
  std::string sentinelPassword;
  bool enabled = true;
  int64_t timeoutMs = 250;
  int64_t ttlHitS = 3600;
  int64_t ttlMissS = 60;
};

struct S3Config {
  std::string endpoint;
  std::string accessKey;
  std::string secretKey;
  std::string bucket;
  std::string region;
  std::string addressing = "auto";
  // PEM bundle of the CA(s) that sign the storage endpoint's certificate (a private CA,
  // e.g. an on-prem MinIO). Empty: the system store. Verification is never switched off.
  std::string caFile;
  // Temporary credentials and where credentials come from (README "Credentials on AWS").
  std::string sessionToken;
  std::string credentials = "static";  // static | env | web-identity | ecs | imds | chain
  std::string roleArn;
  std::string roleSessionName = "recgw";
  int64_t roleDurationS = 3600;
  std::string stsEndpoint;  // empty: https://sts.<region>.amazonaws.com
  int64_t credentialsRefreshMarginS = 300;
  // Keys come from s3.access_key/secret_key (and system_settings) only with `static`.
  bool keysFromSettings() const { return credentials == "static"; }
};

struct FleetConfig {
  std::vector<std::string> urls;
  std::string secret;
  // Empty: X-CXBCore-Secret, or X-VoxCore-Secret for a `voxcore_fleet` in system_settings.
  std::string secretHeader;
  // As s3.ca_file, for the fleet hosts.
  std::string caFile;
  // An upload report's signature time may differ from ours by at most this (replays).
  int64_t reportSkewS = 300;
};

struct JwtSettings {
  std::string hs256Secret;
  std::vector<std::string> publicKeyFiles;
  std::string jwksFile;
  std::string issuer;
  std::string audience;
  int64_t leewayS = 30;
  std::string roleClaim = "role";
  std::string accountClaim = "account_id";
  std::string platformAdminRole = "admin";
  int64_t maxLifetimeS = 24 * 3600;
};

struct StreamConfig {
  int64_t highWatermark = 256 * 1024;
  int64_t lowWatermark = 64 * 1024;
  int64_t globalBudgetBytes = 512LL * 1024 * 1024;
  int64_t connectTimeoutMs = 3000;
  int64_t firstByteTimeoutMs = 10000;
  int64_t lowSpeedBytes = 1024;
  int64_t lowSpeedTimeS = 20;
  int64_t breakerFailures = 5;
  int64_t breakerCooldownMs = 10000;
  int64_t parkAfterMs = 2000;  // 0: never park
  // TCP_NOTSENT_LOWAT of a relayed stream's client connection until the client shows it
  // reads: bytes the kernel may hold unsent for it. 0 leaves the kernel's default (up to
  // net.ipv4.tcp_wmem's maximum, 4 MiB).
  int64_t kernelUnsentBytes = 256 * 1024;
  // "builtin": GET and HEAD over plain HTTP to an origin named by an IP address go through the
  // built-in HTTP/1.1 client (reactor/http1_upstream.h), everything else through libcurl.
  // "curl": everything through libcurl.
  std::string upstreamClient = "builtin";
  // A relayed body from the built-in client goes from the origin's socket to a client that
  // keeps up with splice(2), not copied through recgw's memory.
  bool splice = true;
};

struct CacheConfig {
  int64_t l1Entries = 100000;
  int64_t l1TtlS = 5;
  int64_t failedLookupsPerMinute = 60;
  int64_t failedLookupsBurst = 20;
  // The object cache of each worker (storage/object_cache.h); objectsBytes 0 turns it off.
  int64_t objectsBytes = 256LL * 1024 * 1024;
  int64_t objectMaxBytes = 8LL * 1024 * 1024;
  int64_t objectFreshS = 30;
  int64_t objectAdmitAfter = 2;
};

// [api_keys]: tenant API keys (storage/api_key_store.h). A verified key is trusted for
// cache_s seconds per worker, so a revocation takes effect within that time.
struct ApiKeysConfig {
  std::string collection = "api_keys";
  int64_t cacheS = 10;
};

// [public]: the public link's own statuses (handlers/public_link_status.h).
struct PublicLinkConfig {
  int64_t retryAfterS = 30;  // Retry-After of 503 recording_not_ready
  int64_t notReadyTtlS = 5;  // how long not ready / deleted / failed answers are cached
  std::string revokedCollection = "revoked_links";  // revoked tokens, by SHA-256
  std::string downloadName = "{session_id}.{ext}";  // ?download=1's file name
  std::string mode = "stream";                      // stream | redirect (302 to presigned)
  int64_t redirectTtlS = 300;                       // lifetime of a redirect's presigned URL
};

// [analytics]: per-link counters (storage/link_analytics.h).
struct AnalyticsConfig {
  int64_t flushMs = 1000;           // counted in memory per worker, flushed to Redis this often
  int64_t leakClientsPerHour = 50;  // more distinct client addresses in an hour: suspected leak
};

// [lifecycle]: rooms' recording lifecycle (lifecycle/settings.h, LifecycleSettings).
struct LifecycleConfig {
  std::string roomsCollection = "rooms";
  std::string recordingsCollection = "recordings";
  std::string transitionsCollection = "recording_transitions";
  std::string archiveBucket;
  std::string archiveStorageClass = "GLACIER_IR";
  // hot_* (all empty: the main storage) and archive_* (empty endpoint: the hot service).
  std::string hotEndpoint, hotAccessKey, hotSecretKey, hotBucket, hotRegion, hotAddressing = "auto";
  std::string archiveEndpoint, archiveAccessKey, archiveSecretKey, archiveRegion, archiveAddressing = "auto";
  int64_t archivePartBytes = 16LL * 1024 * 1024;
  int64_t archiveMaxConcurrent = 2;
  int64_t archiveResumeAfterS = 120;
  std::string providerUrl;
  std::string providerToken;
  int64_t providerConnectTimeoutMs = 2000;
  int64_t providerTimeoutMs = 5000;
  int64_t providerRetries = 2;
  int64_t providerBackoffMs = 200;
  int64_t pollPeriodS = 30;
  int64_t pollBatch = 50;
  int64_t linkWindowS = 120;
  int64_t downloadUrlTtlS = 3600;
  int64_t s3TimeoutMs = 60000;
};

struct Config {
  ServerConfig server;
  MongoConfig mongo;
  RedisConfig redis;
  S3Config s3;
  FleetConfig fleet;
  JwtSettings jwt;
  StreamConfig stream;
  CacheConfig cache;
  ApiKeysConfig apiKeys;
  PublicLinkConfig publicLinks;  // [public]
  AnalyticsConfig analytics;
  LifecycleConfig lifecycle;
  std::string sourcePath;  // empty without --config

  std::string listenHost() const;
  uint16_t listenPort() const;
  // server.ops_listen split; only meaningful when it is not empty.
  std::string opsListenHost() const;
  uint16_t opsListenPort() const;
  // Which of endpoint, access key, secret key, bucket are missing (empty = complete).
  std::vector<std::string> missingStorageFields() const;
};

// Thrown at start-up or reload only; `what()` is one line naming the key.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// redis.username, redis.password and redis.database, for storage::parseRedisUrl.
storage::RedisOverrides redisOverridesFrom(const RedisConfig& redis);
// redis.sentinels, master_name and sentinel_password (no sentinels: empty). Throws
// ConfigError for a bad entry (loadConfig has checked them already).
storage::RedisSentinelSettings redisSentinelsFrom(const RedisConfig& redis);

// envp: the process environment (environ). Throws ConfigError.
Config loadConfig(const std::optional<std::string>& path, char** envp);

// TOML text of the effective config, secrets replaced by "***" (or "" when unset).
std::string renderConfig(const Config& config);

// One line per key whose value differs, secrets masked: for SIGHUP logs.
std::vector<std::string> diffConfig(const Config& before, const Config& after);

}  // namespace recgw::app
