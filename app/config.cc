#include "app/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>
#include <sstream>
#include <fstream>
#include <iterator>
#include <string_view>
#include <utility>
#include <toml.hpp>

#include "reactor/json_writer.h"
#include "storage/redis_client.h"
#include "storage/credentials_sources.h"
#include "storage/url_redaction.h"

namespace recgw::app {
namespace {

enum class Kind { kString, kInt, kBool, kList };

struct Field {
  const char* section;
  const char* key;
  Kind kind;
  bool secret;
  std::function<void*(Config&)> target;
  // Extra validation after assignment; returns an error message or "".
  std::function<std::string(const Config&)> validate;
};

template <typename T>
std::function<void*(Config&)> bind(T Config::*section, auto member) {
  return [section, member](Config& c) -> void* { return &((c.*section).*member); };
}

std::string positive(int64_t v) { return v > 0 ? "" : "must be a positive number"; }

std::string checkUrl(const std::string& v, std::initializer_list<const char*> schemes, bool allowEmpty) {
  if (v.empty()) return allowEmpty ? "" : "must not be empty";
  for (const char* s : schemes) {
    std::string prefix = std::string(s) + "://";
    if (v.rfind(prefix, 0) == 0 && v.size() > prefix.size()) return "";
  }
  std::string msg = "not a valid URL (expected ";
  bool first = true;
  for (const char* s : schemes) {
    msg += first ? "" : " or ";
    msg += s;
    msg += "://…";
    first = false;
  }
  return msg + ")";
}

// A CA bundle that cannot be read would fail every TLS handshake later with a vaguer curl
// error: refuse it at load time, naming the file.
std::string checkCaFile(const std::string& path) {
  if (path.empty()) return "";
  std::ifstream file(path, std::ios::binary);
  if (!file) return "cannot read the CA bundle " + path;
  std::string head(64 * 1024, '\0');
  file.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(file.gcount()));
  if (head.find("-----BEGIN CERTIFICATE-----") == std::string::npos)
    return "no PEM certificate (-----BEGIN CERTIFICATE-----) in " + path;
  return "";
}

bool splitHostPort(const std::string& v, std::string& host, uint16_t& port) {
  size_t colon = v.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = v.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int p = 0;
  auto portText = v.substr(colon + 1);
  auto [ptr, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), p);
  if (ec != std::errc() || ptr != portText.data() + portText.size() || p < 0 || p > 65535) return false;
  port = static_cast<uint16_t>(p);
  return true;
}

const std::vector<Field>& schema() {
  using C = Config;
  static const std::vector<Field> fields = {
      {"server", "listen", Kind::kString, false, bind(&C::server, &ServerConfig::listen),
       [](const C& c) {
         std::string h;
         uint16_t p;
         return splitHostPort(c.server.listen, h, p) ? "" : "must be host:port, e.g. 127.0.0.1:8080";
       }},
      {"server", "ops_listen", Kind::kString, false, bind(&C::server, &ServerConfig::opsListen),
       [](const C& c) -> std::string {
         if (c.server.opsListen.empty()) return "";
         std::string host, publicHost;
         uint16_t port = 0, publicPort = 0;
         if (!splitHostPort(c.server.opsListen, host, port) || port == 0)
           return "must be empty or host:port with a fixed port, e.g. 127.0.0.1:9090";
         // SO_REUSEPORT would let both listeners share one port and split its connections.
         if (splitHostPort(c.server.listen, publicHost, publicPort) && port == publicPort)
           return "must use another port than server.listen";
         return "";
       }},
      {"server", "workers", Kind::kInt, false, bind(&C::server, &ServerConfig::workers),
       [](const C& c) { return c.server.workers >= 0 && c.server.workers <= 256 ? "" : "must be 0..256"; }},
      {"server", "max_header_bytes", Kind::kInt, false, bind(&C::server, &ServerConfig::maxHeaderBytes),
       [](const C& c) { return positive(c.server.maxHeaderBytes); }},
      {"server", "max_body_bytes", Kind::kInt, false, bind(&C::server, &ServerConfig::maxBodyBytes),
       [](const C& c) { return positive(c.server.maxBodyBytes); }},
      {"server", "client_timeout_ms", Kind::kInt, false, bind(&C::server, &ServerConfig::clientTimeoutMs),
       [](const C& c) { return positive(c.server.clientTimeoutMs); }},
      {"server", "header_timeout_ms", Kind::kInt, false, bind(&C::server, &ServerConfig::headerTimeoutMs),
       [](const C& c) { return positive(c.server.headerTimeoutMs); }},
      {"server", "shutdown_grace_ms", Kind::kInt, false, bind(&C::server, &ServerConfig::shutdownGraceMs),
       [](const C& c) { return c.server.shutdownGraceMs >= 0 ? "" : "must not be negative"; }},
      {"server", "max_connections", Kind::kInt, false, bind(&C::server, &ServerConfig::maxConnections),
       [](const C& c) { return positive(c.server.maxConnections); }},
      {"server", "public_base_url", Kind::kString, false, bind(&C::server, &ServerConfig::publicBaseUrl),
       [](const C& c) { return checkUrl(c.server.publicBaseUrl, {"http", "https"}, false); }},
      {"server", "log_level", Kind::kString, false, bind(&C::server, &ServerConfig::logLevel),
       [](const C& c) {
         const auto& l = c.server.logLevel;
         return l == "debug" || l == "info" || l == "warn" || l == "error" ? "" : "must be debug|info|warn|error";
       }},
      {"server", "cors_origins", Kind::kList, false, bind(&C::server, &ServerConfig::corsOrigins), nullptr},
      {"server", "trusted_proxies", Kind::kList, false, bind(&C::server, &ServerConfig::trustedProxies), nullptr},

      {"mongo", "uri", Kind::kString, true, bind(&C::mongo, &MongoConfig::uri),
       [](const C& c) { return checkUrl(c.mongo.uri, {"mongodb", "mongodb+srv"}, false); }},
      {"mongo", "calls_collection", Kind::kString, false, bind(&C::mongo, &MongoConfig::callsCollection), nullptr},
      {"mongo", "settings_collection", Kind::kString, false, bind(&C::mongo, &MongoConfig::settingsCollection),
       nullptr},
      {"mongo", "threads", Kind::kInt, false, bind(&C::mongo, &MongoConfig::threads),
       [](const C& c) { return c.mongo.threads > 0 && c.mongo.threads <= 64 ? "" : "must be 1..64"; }},
      {"mongo", "max_queue", Kind::kInt, false, bind(&C::mongo, &MongoConfig::maxQueue),
       [](const C& c) { return positive(c.mongo.maxQueue); }},
      {"mongo", "timeout_ms", Kind::kInt, false, bind(&C::mongo, &MongoConfig::timeoutMs),
       [](const C& c) { return positive(c.mongo.timeoutMs); }},
      {"mongo", "settings_refresh_s", Kind::kInt, false, bind(&C::mongo, &MongoConfig::settingsRefreshS),
       [](const C& c) { return positive(c.mongo.settingsRefreshS); }},

      {"redis", "url", Kind::kString, true, bind(&C::redis, &RedisConfig::url),
       [](const C& c) { return checkUrl(c.redis.url, {"redis", "unix"}, false); }},
      {"redis", "username", Kind::kString, false, bind(&C::redis, &RedisConfig::username), nullptr},
      {"redis", "password", Kind::kString, true, bind(&C::redis, &RedisConfig::password), nullptr},
      {"redis", "database", Kind::kInt, false, bind(&C::redis, &RedisConfig::database),
       [](const C& c) -> std::string {
         if (c.redis.database < -1 || c.redis.database > 65535) return "must be 0..65535 (-1 = the URL's)";
         if (!c.redis.enabled) return "";
         auto address = storage::parseRedisUrl(c.redis.url, redisOverridesFrom(c.redis));
         return address ? "" : "with redis.url: " + address.error().message;
       }},
      {"redis", "sentinels", Kind::kList, false, bind(&C::redis, &RedisConfig::sentinels),
       [](const C& c) -> std::string {
         auto parsed = storage::parseSentinels(c.redis.sentinels, "");
         if (!parsed) return parsed.error().message;
         if (!c.redis.sentinels.empty() && c.redis.masterName.empty()) return "needs redis.master_name";
         return "";
       }},
      {"redis", "master_name", Kind::kString, false, bind(&C::redis, &RedisConfig::masterName), nullptr},
      {"redis", "sentinel_password", Kind::kString, true, bind(&C::redis, &RedisConfig::sentinelPassword),
       nullptr},
      {"redis", "enabled", Kind::kBool, false, bind(&C::redis, &RedisConfig::enabled), nullptr},
      {"redis", "timeout_ms", Kind::kInt, false, bind(&C::redis, &RedisConfig::timeoutMs),
       [](const C& c) { return positive(c.redis.timeoutMs); }},
      {"redis", "ttl_hit_s", Kind::kInt, false, bind(&C::redis, &RedisConfig::ttlHitS),
       [](const C& c) { return positive(c.redis.ttlHitS); }},
      {"redis", "ttl_miss_s", Kind::kInt, false, bind(&C::redis, &RedisConfig::ttlMissS),
       [](const C& c) { return positive(c.redis.ttlMissS); }},

      {"s3", "endpoint", Kind::kString, false, bind(&C::s3, &S3Config::endpoint), nullptr},
      {"s3", "access_key", Kind::kString, true, bind(&C::s3, &S3Config::accessKey), nullptr},
      {"s3", "secret_key", Kind::kString, true, bind(&C::s3, &S3Config::secretKey), nullptr},
      {"s3", "bucket", Kind::kString, false, bind(&C::s3, &S3Config::bucket), nullptr},
      {"s3", "region", Kind::kString, false, bind(&C::s3, &S3Config::region), nullptr},
      {"s3", "addressing", Kind::kString, false, bind(&C::s3, &S3Config::addressing),
       [](const C& c) {
         const auto& a = c.s3.addressing;
         return a == "auto" || a == "path" || a == "virtual" ? "" : "must be auto|path|virtual";
       }},
      {"s3", "ca_file", Kind::kString, false, bind(&C::s3, &S3Config::caFile),
       [](const C& c) { return checkCaFile(c.s3.caFile); }},
      {"s3", "session_token", Kind::kString, true, bind(&C::s3, &S3Config::sessionToken), nullptr},
      {"s3", "credentials", Kind::kString, false, bind(&C::s3, &S3Config::credentials),
       [](const C& c) {
         return storage::isCredentialSourceKind(c.s3.credentials) ? ""
                                                                  : "must be static|env|web-identity|ecs|imds|chain";
       }},
      {"s3", "role_arn", Kind::kString, false, bind(&C::s3, &S3Config::roleArn), nullptr},
      {"s3", "role_session_name", Kind::kString, false, bind(&C::s3, &S3Config::roleSessionName),
       [](const C& c) {
         const auto& n = c.s3.roleSessionName;
         return !n.empty() && n.size() <= 64 ? "" : "must be 1..64 characters";
       }},
      {"s3", "role_duration_s", Kind::kInt, false, bind(&C::s3, &S3Config::roleDurationS),
       [](const C& c) {
         return c.s3.roleDurationS >= 900 && c.s3.roleDurationS <= 43200 ? "" : "must be 900..43200 (STS limits)";
       }},
      {"s3", "sts_endpoint", Kind::kString, false, bind(&C::s3, &S3Config::stsEndpoint),
       [](const C& c) { return checkUrl(c.s3.stsEndpoint, {"http", "https"}, true); }},
      {"s3", "credentials_refresh_margin_s", Kind::kInt, false,
       bind(&C::s3, &S3Config::credentialsRefreshMarginS),
       [](const C& c) { return c.s3.credentialsRefreshMarginS >= 0 ? "" : "must not be negative"; }},

      {"fleet", "urls", Kind::kList, false, bind(&C::fleet, &FleetConfig::urls),
       [](const C& c) {
         for (const auto& u : c.fleet.urls) {
           std::string e = checkUrl(u, {"http", "https"}, false);
           if (!e.empty()) return e + ": " + u;
         }
         return std::string();
       }},
      {"fleet", "secret", Kind::kString, true, bind(&C::fleet, &FleetConfig::secret), nullptr},
      {"fleet", "secret_header", Kind::kString, false, bind(&C::fleet, &FleetConfig::secretHeader), nullptr},
      {"fleet", "ca_file", Kind::kString, false, bind(&C::fleet, &FleetConfig::caFile),
       [](const C& c) { return checkCaFile(c.fleet.caFile); }},
      {"fleet", "report_skew_s", Kind::kInt, false, bind(&C::fleet, &FleetConfig::reportSkewS),
       [](const C& c) {
         return c.fleet.reportSkewS >= 1 && c.fleet.reportSkewS <= 3600 ? "" : "must be 1..3600";
       }},

      {"jwt", "hs256_secret", Kind::kString, true, bind(&C::jwt, &JwtSettings::hs256Secret), nullptr},
      {"jwt", "public_key_files", Kind::kList, false, bind(&C::jwt, &JwtSettings::publicKeyFiles), nullptr},
      {"jwt", "jwks_file", Kind::kString, false, bind(&C::jwt, &JwtSettings::jwksFile), nullptr},
      {"jwt", "issuer", Kind::kString, false, bind(&C::jwt, &JwtSettings::issuer), nullptr},
      {"jwt", "audience", Kind::kString, false, bind(&C::jwt, &JwtSettings::audience), nullptr},
      {"jwt", "leeway_s", Kind::kInt, false, bind(&C::jwt, &JwtSettings::leewayS),
       [](const C& c) { return c.jwt.leewayS >= 0 ? "" : "must not be negative"; }},
      {"jwt", "role_claim", Kind::kString, false, bind(&C::jwt, &JwtSettings::roleClaim),
       [](const C& c) { return c.jwt.roleClaim.empty() ? "must not be empty" : ""; }},
      {"jwt", "account_claim", Kind::kString, false, bind(&C::jwt, &JwtSettings::accountClaim), nullptr},
      {"jwt", "platform_admin_role", Kind::kString, false, bind(&C::jwt, &JwtSettings::platformAdminRole),
       [](const C& c) { return c.jwt.platformAdminRole.empty() ? "must not be empty" : ""; }},
      {"jwt", "max_lifetime_s", Kind::kInt, false, bind(&C::jwt, &JwtSettings::maxLifetimeS),
       [](const C& c) { return positive(c.jwt.maxLifetimeS); }},

      {"stream", "high_watermark", Kind::kInt, false, bind(&C::stream, &StreamConfig::highWatermark),
       [](const C& c) { return positive(c.stream.highWatermark); }},
      {"stream", "low_watermark", Kind::kInt, false, bind(&C::stream, &StreamConfig::lowWatermark),
       [](const C& c) {
         return c.stream.lowWatermark >= 0 && c.stream.lowWatermark < c.stream.highWatermark
                    ? ""
                    : "must be below stream.high_watermark";
       }},
      {"stream", "global_budget_bytes", Kind::kInt, false, bind(&C::stream, &StreamConfig::globalBudgetBytes),
       [](const C& c) { return positive(c.stream.globalBudgetBytes); }},
      {"stream", "connect_timeout_ms", Kind::kInt, false, bind(&C::stream, &StreamConfig::connectTimeoutMs),
       [](const C& c) { return positive(c.stream.connectTimeoutMs); }},
      {"stream", "first_byte_timeout_ms", Kind::kInt, false,
       bind(&C::stream, &StreamConfig::firstByteTimeoutMs),
       [](const C& c) { return positive(c.stream.firstByteTimeoutMs); }},
      {"stream", "low_speed_bytes", Kind::kInt, false, bind(&C::stream, &StreamConfig::lowSpeedBytes),
       [](const C& c) { return positive(c.stream.lowSpeedBytes); }},
      {"stream", "low_speed_time_s", Kind::kInt, false, bind(&C::stream, &StreamConfig::lowSpeedTimeS),
       [](const C& c) { return positive(c.stream.lowSpeedTimeS); }},
      {"stream", "breaker_failures", Kind::kInt, false, bind(&C::stream, &StreamConfig::breakerFailures),
       [](const C& c) { return positive(c.stream.breakerFailures); }},
      {"stream", "breaker_cooldown_ms", Kind::kInt, false, bind(&C::stream, &StreamConfig::breakerCooldownMs),
       [](const C& c) { return positive(c.stream.breakerCooldownMs); }},
      {"stream", "park_after_ms", Kind::kInt, false, bind(&C::stream, &StreamConfig::parkAfterMs),
       [](const C& c) { return c.stream.parkAfterMs >= 0 ? "" : "must not be negative"; }},
      {"stream", "kernel_unsent_bytes", Kind::kInt, false, bind(&C::stream, &StreamConfig::kernelUnsentBytes),
       [](const C& c) {
         return c.stream.kernelUnsentBytes == 0 || (c.stream.kernelUnsentBytes >= 16 * 1024 &&
                                                    c.stream.kernelUnsentBytes <= 64LL * 1024 * 1024)
                    ? ""
                    : "must be 0 (the kernel's default) or from 16384 to 67108864";
       }},

      {"stream", "upstream_client", Kind::kString, false, bind(&C::stream, &StreamConfig::upstreamClient),
       [](const C& c) {
         return c.stream.upstreamClient == "builtin" || c.stream.upstreamClient == "curl"
                    ? ""
                    : "must be \"builtin\" or \"curl\"";
       }},
      {"stream", "splice", Kind::kBool, false, bind(&C::stream, &StreamConfig::splice), nullptr},

      {"cache", "l1_entries", Kind::kInt, false, bind(&C::cache, &CacheConfig::l1Entries),
       [](const C& c) { return c.cache.l1Entries >= 0 ? "" : "must not be negative"; }},
      {"cache", "l1_ttl_s", Kind::kInt, false, bind(&C::cache, &CacheConfig::l1TtlS),
       [](const C& c) { return c.cache.l1TtlS >= 0 ? "" : "must not be negative"; }},
      {"cache", "failed_lookups_per_minute", Kind::kInt, false,
       bind(&C::cache, &CacheConfig::failedLookupsPerMinute),
       [](const C& c) { return c.cache.failedLookupsPerMinute >= 0 ? "" : "must not be negative (0 = no limit)"; }},
      {"cache", "failed_lookups_burst", Kind::kInt, false, bind(&C::cache, &CacheConfig::failedLookupsBurst),
       [](const C& c) { return positive(c.cache.failedLookupsBurst); }},
      {"cache", "objects_bytes", Kind::kInt, false, bind(&C::cache, &CacheConfig::objectsBytes),
       [](const C& c) { return c.cache.objectsBytes >= 0 ? "" : "must not be negative (0 = off)"; }},
      {"cache", "object_max_bytes", Kind::kInt, false, bind(&C::cache, &CacheConfig::objectMaxBytes),
       [](const C& c) { return positive(c.cache.objectMaxBytes); }},
      {"cache", "object_fresh_s", Kind::kInt, false, bind(&C::cache, &CacheConfig::objectFreshS),
       [](const C& c) { return positive(c.cache.objectFreshS); }},
      {"cache", "object_admit_after", Kind::kInt, false, bind(&C::cache, &CacheConfig::objectAdmitAfter),
       [](const C& c) {
         return c.cache.objectAdmitAfter >= 1 && c.cache.objectAdmitAfter <= 1000 ? "" : "must be 1..1000";
       }},

      {"api_keys", "collection", Kind::kString, false, bind(&C::apiKeys, &ApiKeysConfig::collection),
       [](const C& c) { return c.apiKeys.collection.empty() ? "must not be empty" : ""; }},
      {"api_keys", "cache_s", Kind::kInt, false, bind(&C::apiKeys, &ApiKeysConfig::cacheS),
       [](const C& c) { return c.apiKeys.cacheS >= 0 && c.apiKeys.cacheS <= 30 ? "" : "must be 0..30"; }},

      {"public", "retry_after_s", Kind::kInt, false, bind(&C::publicLinks, &PublicLinkConfig::retryAfterS),
       [](const C& c) { return positive(c.publicLinks.retryAfterS); }},
      {"public", "not_ready_ttl_s", Kind::kInt, false, bind(&C::publicLinks, &PublicLinkConfig::notReadyTtlS),
       [](const C& c) { return positive(c.publicLinks.notReadyTtlS); }},
      {"public", "revoked_collection", Kind::kString, false,
       bind(&C::publicLinks, &PublicLinkConfig::revokedCollection),
       [](const C& c) { return c.publicLinks.revokedCollection.empty() ? "must not be empty" : ""; }},
      {"public", "download_name", Kind::kString, false, bind(&C::publicLinks, &PublicLinkConfig::downloadName),
       [](const C& c) {
         const auto& n = c.publicLinks.downloadName;
         if (n.empty() || n.size() > 200) return "must be 1..200 bytes";
         for (unsigned char ch : n)
           if (ch < 0x20 || ch == 0x7f || ch == '/' || ch == '\\') return "must not hold '/', '\\' or control characters";
         return "";
       }},
      {"public", "mode", Kind::kString, false, bind(&C::publicLinks, &PublicLinkConfig::mode),
       [](const C& c) {
         return c.publicLinks.mode == "stream" || c.publicLinks.mode == "redirect" ? "" : "must be stream|redirect";
       }},
      {"public", "redirect_ttl_s", Kind::kInt, false, bind(&C::publicLinks, &PublicLinkConfig::redirectTtlS),
       [](const C& c) {
         return c.publicLinks.redirectTtlS >= 1 && c.publicLinks.redirectTtlS <= 604800 ? "" : "must be 1..604800";
       }},

      {"analytics", "flush_ms", Kind::kInt, false, bind(&C::analytics, &AnalyticsConfig::flushMs),
       [](const C& c) { return c.analytics.flushMs >= 50 && c.analytics.flushMs <= 60000 ? "" : "must be 50..60000"; }},
      {"analytics", "leak_clients_per_hour", Kind::kInt, false,
       bind(&C::analytics, &AnalyticsConfig::leakClientsPerHour),
       [](const C& c) { return positive(c.analytics.leakClientsPerHour); }},

      {"lifecycle", "rooms_collection", Kind::kString, false, bind(&C::lifecycle, &LifecycleConfig::roomsCollection),
       [](const C& c) { return c.lifecycle.roomsCollection.empty() ? "must not be empty" : ""; }},
      {"lifecycle", "recordings_collection", Kind::kString, false,
       bind(&C::lifecycle, &LifecycleConfig::recordingsCollection),
       [](const C& c) { return c.lifecycle.recordingsCollection.empty() ? "must not be empty" : ""; }},
      {"lifecycle", "transitions_collection", Kind::kString, false,
       bind(&C::lifecycle, &LifecycleConfig::transitionsCollection),
       [](const C& c) { return c.lifecycle.transitionsCollection.empty() ? "must not be empty" : ""; }},
      {"lifecycle", "archive_bucket", Kind::kString, false, bind(&C::lifecycle, &LifecycleConfig::archiveBucket),
       nullptr},
      {"lifecycle", "archive_storage_class", Kind::kString, false,
       bind(&C::lifecycle, &LifecycleConfig::archiveStorageClass), nullptr},
      // The hot store and the archive as their own services (lifecycle/archive_storage.h).
      {"lifecycle", "hot_endpoint", Kind::kString, false, bind(&C::lifecycle, &LifecycleConfig::hotEndpoint),
       [](const C& c) {
         const auto& l = c.lifecycle;
         bool any = !l.hotEndpoint.empty() || !l.hotAccessKey.empty() || !l.hotSecretKey.empty() || !l.hotBucket.empty();
         bool all = !l.hotEndpoint.empty() && !l.hotAccessKey.empty() && !l.hotSecretKey.empty() && !l.hotBucket.empty();
         return any && !all ? "hot_endpoint, hot_access_key, hot_secret_key and hot_bucket go together" : "";
       }},
      {"lifecycle", "hot_access_key", Kind::kString, true, bind(&C::lifecycle, &LifecycleConfig::hotAccessKey),
       nullptr},
      {"lifecycle", "hot_secret_key", Kind::kString, true, bind(&C::lifecycle, &LifecycleConfig::hotSecretKey),
       nullptr},
      {"lifecycle", "hot_bucket", Kind::kString, false, bind(&C::lifecycle, &LifecycleConfig::hotBucket), nullptr},
      {"lifecycle", "hot_region", Kind::kString, false, bind(&C::lifecycle, &LifecycleConfig::hotRegion), nullptr},
      {"lifecycle", "hot_addressing", Kind::kString, false, bind(&C::lifecycle, &LifecycleConfig::hotAddressing),
       [](const C& c) {
         const auto& a = c.lifecycle.hotAddressing;
         return a == "auto" || a == "path" || a == "virtual" ? "" : "must be auto|path|virtual";
       }},
      {"lifecycle", "archive_endpoint", Kind::kString, false,
       bind(&C::lifecycle, &LifecycleConfig::archiveEndpoint),
       [](const C& c) {
         const auto& l = c.lifecycle;
         bool any = !l.archiveEndpoint.empty() || !l.archiveAccessKey.empty() || !l.archiveSecretKey.empty();
         bool all = !l.archiveEndpoint.empty() && !l.archiveAccessKey.empty() && !l.archiveSecretKey.empty();
         return any && !all ? "archive_endpoint, archive_access_key and archive_secret_key go together" : "";
       }},
      {"lifecycle", "archive_access_key", Kind::kString, true,
       bind(&C::lifecycle, &LifecycleConfig::archiveAccessKey), nullptr},
      {"lifecycle", "archive_secret_key", Kind::kString, true,
       bind(&C::lifecycle, &LifecycleConfig::archiveSecretKey), nullptr},
      {"lifecycle", "archive_region", Kind::kString, false, bind(&C::lifecycle, &LifecycleConfig::archiveRegion),
       nullptr},
      {"lifecycle", "archive_addressing", Kind::kString, false,
       bind(&C::lifecycle, &LifecycleConfig::archiveAddressing),
       [](const C& c) {
         const auto& a = c.lifecycle.archiveAddressing;
         return a == "auto" || a == "path" || a == "virtual" ? "" : "must be auto|path|virtual";
       }},
      {"lifecycle", "archive_part_bytes", Kind::kInt, false, bind(&C::lifecycle, &LifecycleConfig::archivePartBytes),
       [](const C& c) {
         auto v = c.lifecycle.archivePartBytes;
         return v >= 5LL * 1024 * 1024 && v <= 5LL * 1024 * 1024 * 1024 ? "" : "must be 5 MiB..5 GiB (5242880..5368709120)";
       }},
      {"lifecycle", "archive_max_concurrent", Kind::kInt, false,
       bind(&C::lifecycle, &LifecycleConfig::archiveMaxConcurrent),
       [](const C& c) {
         return c.lifecycle.archiveMaxConcurrent >= 1 && c.lifecycle.archiveMaxConcurrent <= 64 ? "" : "must be 1..64";
       }},
      {"lifecycle", "archive_resume_after_s", Kind::kInt, false,
       bind(&C::lifecycle, &LifecycleConfig::archiveResumeAfterS),
       [](const C& c) { return positive(c.lifecycle.archiveResumeAfterS); }},
      {"lifecycle", "provider_url", Kind::kString, false, bind(&C::lifecycle, &LifecycleConfig::providerUrl),
       [](const C& c) { return checkUrl(c.lifecycle.providerUrl, {"http", "https"}, true); }},
      {"lifecycle", "provider_token", Kind::kString, true, bind(&C::lifecycle, &LifecycleConfig::providerToken),
       nullptr},
      {"lifecycle", "provider_connect_timeout_ms", Kind::kInt, false,
       bind(&C::lifecycle, &LifecycleConfig::providerConnectTimeoutMs),
       [](const C& c) { return positive(c.lifecycle.providerConnectTimeoutMs); }},
      {"lifecycle", "provider_timeout_ms", Kind::kInt, false, bind(&C::lifecycle, &LifecycleConfig::providerTimeoutMs),
       [](const C& c) { return positive(c.lifecycle.providerTimeoutMs); }},
      {"lifecycle", "provider_retries", Kind::kInt, false, bind(&C::lifecycle, &LifecycleConfig::providerRetries),
       [](const C& c) {
         return c.lifecycle.providerRetries >= 0 && c.lifecycle.providerRetries <= 10 ? "" : "must be 0..10";
       }},
      {"lifecycle", "provider_backoff_ms", Kind::kInt, false, bind(&C::lifecycle, &LifecycleConfig::providerBackoffMs),
       [](const C& c) { return c.lifecycle.providerBackoffMs >= 0 ? "" : "must not be negative"; }},
      {"lifecycle", "poll_period_s", Kind::kInt, false, bind(&C::lifecycle, &LifecycleConfig::pollPeriodS),
       [](const C& c) { return c.lifecycle.pollPeriodS >= 0 ? "" : "must not be negative (0 = no poll)"; }},
      {"lifecycle", "poll_batch", Kind::kInt, false, bind(&C::lifecycle, &LifecycleConfig::pollBatch),
       [](const C& c) { return c.lifecycle.pollBatch > 0 && c.lifecycle.pollBatch <= 1000 ? "" : "must be 1..1000"; }},
      {"lifecycle", "link_window_s", Kind::kInt, false, bind(&C::lifecycle, &LifecycleConfig::linkWindowS),
       [](const C& c) { return c.lifecycle.linkWindowS >= 0 ? "" : "must not be negative"; }},
      {"lifecycle", "download_url_ttl_s", Kind::kInt, false, bind(&C::lifecycle, &LifecycleConfig::downloadUrlTtlS),
       [](const C& c) {
         return c.lifecycle.downloadUrlTtlS >= 1 && c.lifecycle.downloadUrlTtlS <= 604800 ? "" : "must be 1..604800";
       }},
      {"lifecycle", "s3_timeout_ms", Kind::kInt, false, bind(&C::lifecycle, &LifecycleConfig::s3TimeoutMs),
       [](const C& c) { return positive(c.lifecycle.s3TimeoutMs); }},
  };
  return fields;
}

std::string dotted(const Field& f) { return std::string(f.section) + "." + f.key; }

std::string upper(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

std::string envName(const Field& f) { return "RECGW_" + upper(f.section) + "_" + upper(f.key); }

// Keys and values come from files and the environment: keep the error on one line.
std::string oneLine(std::string text) {
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return text;
}

[[noreturn]] void fail(const std::string& key, const std::string& message) {
  throw ConfigError(oneLine(key) + ": " + oneLine(message));
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

void assignFromText(const Field& f, Config& c, const std::string& name, const std::string& text) {
  void* target = f.target(c);
  switch (f.kind) {
    case Kind::kString:
      *static_cast<std::string*>(target) = text;
      break;
    case Kind::kInt: {
      int64_t v = 0;
      std::string t = trim(text);
      auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      if (t.empty() || ec != std::errc() || ptr != t.data() + t.size())
        fail(name, "not a number: '" + t + "'");
      *static_cast<int64_t*>(target) = v;
      break;
    }
    case Kind::kBool: {
      std::string t = trim(text);
      if (t == "true" || t == "1" || t == "yes")
        *static_cast<bool*>(target) = true;
      else if (t == "false" || t == "0" || t == "no")
        *static_cast<bool*>(target) = false;
      else
        fail(name, "not a boolean: '" + t + "'");
      break;
    }
    case Kind::kList: {
      std::vector<std::string> items;
      std::stringstream ss(text);
      std::string item;
      while (std::getline(ss, item, ',')) {
        item = trim(item);
        if (!item.empty()) items.push_back(item);
      }
      *static_cast<std::vector<std::string>*>(target) = std::move(items);
      break;
    }
  }
}

void assignFromToml(const Field& f, Config& c, const toml::value& v) {
  const std::string name = dotted(f);
  void* target = f.target(c);
  switch (f.kind) {
    case Kind::kString:
      if (!v.is_string()) fail(name, "must be a string");
      *static_cast<std::string*>(target) = v.as_string().str;
      break;
    case Kind::kInt:
      if (!v.is_integer()) fail(name, "must be an integer");
      *static_cast<int64_t*>(target) = v.as_integer();
      break;
    case Kind::kBool:
      if (!v.is_boolean()) fail(name, "must be a boolean");
      *static_cast<bool*>(target) = v.as_boolean();
      break;
    case Kind::kList: {
      std::vector<std::string> items;
      if (v.is_string()) {
        assignFromText(f, c, name, v.as_string().str);
        return;
      }
      if (!v.is_array()) fail(name, "must be an array of strings");
      for (const auto& item : v.as_array()) {
        if (!item.is_string()) fail(name, "must be an array of strings");
        items.push_back(item.as_string().str);
      }
      *static_cast<std::vector<std::string>*>(target) = std::move(items);
      break;
    }
  }
}

std::string firstLine(const std::string& s) {
  std::string line = s.substr(0, s.find('\n'));
  return trim(line);
}

// Keys whose values are URLs: shown only through storage::redactUrl (credentials in the
// userinfo or in secret options such as tlsCertificateKeyFilePassword are masked).
bool holdsUrls(const Field& f) {
  static constexpr std::pair<std::string_view, std::string_view> kUrlKeys[] = {{"server", "public_base_url"},
                                                                               {"mongo", "uri"},
                                                                               {"redis", "url"},
                                                                               {"s3", "endpoint"},
                                                                               {"fleet", "urls"},
                                                                               {"lifecycle", "provider_url"},
                                                                               {"s3", "sts_endpoint"}};
  for (const auto& [section, key] : kUrlKeys) {
    if (section == f.section && key == f.key) return true;
  }
  return false;
}

// The value as configured, unmasked, to tell whether it changed.
std::string rawValue(const Field& f, const Config& c) {
  const void* target = f.target(const_cast<Config&>(c));
  switch (f.kind) {
    case Kind::kString:
      return *static_cast<const std::string*>(target);
    case Kind::kList: {
      std::string out;
      for (const auto& item : *static_cast<const std::vector<std::string>*>(target)) out += item + '\n';
      return out;
    }
    case Kind::kInt:
      return std::to_string(*static_cast<const int64_t*>(target));
    case Kind::kBool:
      return *static_cast<const bool*>(target) ? "true" : "false";
  }
  return "";
}

std::string render(const Field& f, const Config& c) {
  const void* target = f.target(const_cast<Config&>(c));
  auto quote = [](const std::string& s) {
    // A TOML basic string: the output of check-config must load again.
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out = "\"";
    for (char ch : s) {
      auto c = static_cast<unsigned char>(ch);
      if (ch == '"' || ch == '\\') {
        out += '\\';
        out += ch;
      } else if (c < 0x20 || c == 0x7f) {
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
      } else {
        out += ch;
      }
    }
    return out + "\"";
  };
  switch (f.kind) {
    case Kind::kString: {
      const auto& s = *static_cast<const std::string*>(target);
      // A URL keeps its shape (hosts, database, options) and loses only its credentials.
      if (holdsUrls(f)) return quote(storage::redactUrl(s));
      if (f.secret && !s.empty()) return quote("***");
      return quote(s);
    }
    case Kind::kInt:
      return std::to_string(*static_cast<const int64_t*>(target));
    case Kind::kBool:
      return *static_cast<const bool*>(target) ? "true" : "false";
    case Kind::kList: {
      std::string out = "[";
      bool first = true;
      for (const auto& item : *static_cast<const std::vector<std::string>*>(target)) {
        out += first ? "" : ", ";
        out += quote(holdsUrls(f) ? storage::redactUrl(item) : item);
        first = false;
      }
      return out + "]";
    }
  }
  return "";
}

}  // namespace

std::string Config::listenHost() const {
  std::string h;
  uint16_t p = 0;
  splitHostPort(server.listen, h, p);
  return h;
}

uint16_t Config::listenPort() const {
  std::string h;
  uint16_t p = 0;
  splitHostPort(server.listen, h, p);
  return p;
}

std::string Config::opsListenHost() const {
  std::string h;
  uint16_t p = 0;
  splitHostPort(server.opsListen, h, p);
  return h;
}

uint16_t Config::opsListenPort() const {
  std::string h;
  uint16_t p = 0;
  splitHostPort(server.opsListen, h, p);
  return p;
}

std::vector<std::string> Config::missingStorageFields() const {
  std::vector<std::string> missing;
  if (s3.endpoint.empty()) missing.push_back("endpoint");
  if (s3.keysFromSettings() && s3.accessKey.empty()) missing.push_back("access_key");
  if (s3.keysFromSettings() && s3.secretKey.empty()) missing.push_back("secret_key");
  if (s3.bucket.empty()) missing.push_back("bucket");
  return missing;
}

Config loadConfig(const std::optional<std::string>& path, char** envp) {
  Config c;
  if (path) {
    c.sourcePath = *path;
    toml::value data;
    std::ifstream file(*path, std::ios::binary);
    if (!file) throw ConfigError("config file " + *path + ": cannot be read");
    std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    // toml11 3.7 reads past the end on some invalid UTF-8 (fixed upstream in 3.8): TOML
    // must be UTF-8 anyway, so check before parsing.
    if (!reactor::isValidUtf8(text)) throw ConfigError("config file " + *path + ": not valid UTF-8");
    try {
      std::istringstream stream(text);
      data = toml::parse(stream, *path);
    } catch (const std::exception& e) {
      throw ConfigError("config file " + *path + ": " + firstLine(e.what()));
    }
    if (!data.is_table()) throw ConfigError("config file " + *path + ": not a TOML table");
    for (const auto& entry : data.as_table()) {
      const std::string& section = entry.first;
      const toml::value& table = entry.second;
      bool knownSection =
          std::any_of(schema().begin(), schema().end(), [&](const Field& f) { return section == f.section; });
      if (!knownSection) fail(section, "unknown section");
      if (!table.is_table()) fail(section, "must be a table");
      for (const auto& item : table.as_table()) {
        const std::string& key = item.first;
        const toml::value& value = item.second;
        auto it = std::find_if(schema().begin(), schema().end(),
                               [&](const Field& f) { return section == f.section && key == f.key; });
        if (it == schema().end()) fail(section + "." + key, "unknown key");
        assignFromToml(*it, c, value);
      }
    }
  }
  for (char** e = envp; e && *e; ++e) {
    std::string_view entry(*e);
    if (entry.rfind("RECGW_", 0) != 0) continue;
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    std::string name(entry.substr(0, eq));
    std::string value(entry.substr(eq + 1));
    auto it =
        std::find_if(schema().begin(), schema().end(), [&](const Field& f) { return envName(f) == name; });
    if (it != schema().end()) {
      assignFromText(*it, c, name, value);
      continue;
    }
    // A variable in one of our sections that names no key is a typo worth stopping for;
    // other RECGW_* variables (the install scripts' own) are not ours to judge.
    for (const char* section :
         {"SERVER", "MONGO", "REDIS", "S3", "FLEET", "JWT", "STREAM", "CACHE", "LIFECYCLE"}) {
      if (name.rfind(std::string("RECGW_") + section + "_", 0) == 0) fail(name, "unknown setting");
    }
  }
  for (const Field& f : schema()) {
    if (!f.validate) continue;
    std::string err = f.validate(c);
    if (!err.empty()) fail(dotted(f), err);
  }
  if (!c.s3.endpoint.empty() && c.s3.endpoint.find("://") != std::string::npos) {
    std::string err = checkUrl(c.s3.endpoint, {"http", "https"}, false);
    if (!err.empty()) fail("s3.endpoint", err);
  }
  return c;
}

storage::RedisOverrides redisOverridesFrom(const RedisConfig& redis) {
  return storage::RedisOverrides{redis.username, redis.password, redis.database};
}

storage::RedisSentinelSettings redisSentinelsFrom(const RedisConfig& redis) {
  storage::RedisSentinelSettings settings;
  auto sentinels = storage::parseSentinels(redis.sentinels, redis.sentinelPassword);
  if (!sentinels) throw ConfigError("redis.sentinels: " + sentinels.error().message);
  settings.sentinels = std::move(*sentinels);
  settings.masterName = redis.masterName;
  return settings;
}

std::string renderConfig(const Config& config) {
  std::string out;
  std::string section;
  for (const Field& f : schema()) {
    if (section != f.section) {
      section = f.section;
      out += (out.empty() ? "[" : "\n[") + section + "]\n";
    }
    out += std::string(f.key) + " = " + render(f, config) + "\n";
  }
  return out;
}

std::vector<std::string> diffConfig(const Config& before, const Config& after) {
  std::vector<std::string> changes;
  for (const Field& f : schema()) {
    // Masked values may render alike (a rotated secret, a URL whose password changed), so
    // compare what they hold.
    if (rawValue(f, before) == rawValue(f, after)) continue;
    std::string a = render(f, before);
    std::string b = render(f, after);
    if (f.secret || a == b)
      changes.push_back(dotted(f) + ": changed");
    else
      changes.push_back(dotted(f) + ": " + a + " -> " + b);
  }
  return changes;
}

}  // namespace recgw::app
