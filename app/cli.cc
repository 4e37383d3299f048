#include "app/cli.h"

#include <curl/curl.h>
#include <mongoc/mongoc.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <optional>

#include "app/config.h"
#include "app/gateway.h"
#include "handlers/diagnose.h"
#include "reactor/curl_multi.h"
#include "reactor/event_loop.h"
#include "reactor/status.h"
#include "reactor/worker_pool.h"
#include "storage/api_key_store.h"
#include "storage/call_indexes.h"
#include "storage/call_store.h"
#include "storage/hiredis_handles.h"
#include "storage/iso_time.h"
#include "storage/link_analytics.h"
#include "storage/lookup_cache.h"
#include "storage/mongo_client.h"
#include "storage/mongo_handles.h"
#include "storage/presigner.h"
#include "storage/recording_token.h"
#include "storage/redis_client.h"
#include "storage/s3_addressing.h"
#include "storage/url_redaction.h"

extern char** environ;

namespace recgw::app {
namespace {

// --name value / --name=value flags, and the switches --help and --json; positional
// arguments kept in order.
struct Flags {
  std::map<std::string, std::string> named;
  std::vector<std::string> positional;
  std::string error;
};

Flags parseFlags(const std::vector<std::string>& args, const std::vector<std::string>& known) {
  Flags f;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0) {
      f.positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    size_t eq = name.find('=');
    bool inlineValue = eq != std::string::npos;
    if (inlineValue) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      f.error = "unknown option --" + name;
      return f;
    }
    if (name == "help" || name == "check") {  // switches: no value
      f.named[name] = "1";
      continue;
    }
    if (name == "json") {
      // A switch; "--json true" / "--json false" (the older spelling) still read as before.
      if (!inlineValue && i + 1 < args.size() && (args[i + 1] == "true" || args[i + 1] == "false")) {
        value = args[++i];
      } else if (!inlineValue) {
        value = "true";
      } else if (value != "true" && value != "false") {
        f.error = "--json takes no value (or true / false)";
        return f;
      }
      if (value == "true") f.named[name] = value;
      continue;
    }
    if (!inlineValue) {
      if (i + 1 >= args.size()) {
        f.error = "--" + name + " needs a value";
        return f;
      }
      value = args[++i];
    }
    f.named[name] = value;
  }
  return f;
}

// Usage errors exit 2; a dependency that fails exits 1.
int fail(const std::string& message, int code = 2) {
  std::fprintf(stderr, "recgw: %s\n", message.c_str());
  return code;
}

std::optional<int64_t> toInt(const std::string& s) {
  try {
    size_t used = 0;
    int64_t v = std::stoll(s, &used);
    if (used != s.size()) return std::nullopt;
    return v;
  } catch (...) {
    return std::nullopt;
  }
}

int presign(const std::vector<std::string>& args) {
  Flags f = parseFlags(args, {"endpoint", "bucket", "key", "access-key", "secret-key", "session-token",
                              "region", "expires", "at", "addressing", "help"});
  if (!f.error.empty()) return fail(f.error);
  if (f.named.count("help")) {
    std::printf(
        "usage: recgw presign --endpoint URL --bucket B --key K --access-key A --secret-key S\n"
        "                     [--session-token T] [--region R] [--expires SECONDS] [--at RFC3339-UTC]\n"
        "                     [--addressing auto|path|virtual]\n");
    return 0;
  }
  for (const char* required : {"endpoint", "bucket", "key", "access-key", "secret-key"}) {
    if (f.named[required].empty()) return fail(std::string("--") + required + " is required");
  }
  storage::S3Location loc;
  loc.endpoint = storage::endpointUrl(f.named["endpoint"]);
  loc.bucket = f.named["bucket"];
  loc.region = storage::regionFromEndpoint(f.named["endpoint"], f.named["region"]);
  if (f.named.count("addressing")) {
    auto a = storage::parseAddressing(f.named["addressing"]);
    if (!a) return fail("--addressing must be auto, path or virtual");
    loc.addressing = *a;
  }
  int64_t expires = storage::kDefaultSignedUrlSeconds;
  if (f.named.count("expires")) {
    auto v = toInt(f.named["expires"]);
    if (!v || *v < 1 || *v > storage::kMaxPresignExpirySeconds)
      return fail("--expires must be 1..604800 seconds");
    expires = *v;
  }
  auto now = std::chrono::system_clock::now();
  if (f.named.count("at")) {
    auto at = storage::parseIsoInstant(f.named["at"]);
    if (!at) return fail("--at must be an RFC 3339 UTC time, e.g. 2024-05-01T12:00:00Z");
    now = *at;
  }
  storage::S3Credentials credentials{f.named["access-key"], f.named["secret-key"], f.named["session-token"]};
  storage::SignedUrl url = storage::generateSignedUrl(loc, credentials, f.named["key"], expires, now);
  if (!url.ok()) return fail(url.error);
  std::printf("%s\n", url.url.c_str());
  return 0;
}

int extractKey(const std::vector<std::string>& args) {
  Flags f = parseFlags(args, {"bucket", "help"});
  if (!f.error.empty()) return fail(f.error);
  if (f.named.count("help") || f.positional.size() != 1) {
    std::fprintf(f.named.count("help") ? stdout : stderr, "usage: recgw extract-key URL [--bucket B]\n");
    return f.named.count("help") ? 0 : 2;
  }
  auto key = storage::extractS3KeyFromUrl(f.positional[0], f.named["bucket"]);
  if (!key) return fail("no object key can be read from that URL");
  std::printf("%s\n", key->c_str());
  return 0;
}

// A blocking MongoDB client for one CLI command, from the config's mongo.uri.
class CliMongo {
 public:
  CliMongo() { mongoc_init(); }
  ~CliMongo() {
    client_.reset();
    mongoc_cleanup();
  }
  CliMongo(const CliMongo&) = delete;
  CliMongo& operator=(const CliMongo&) = delete;

  Status open(const Config& config) {
    std::string uri =
        storage::withTimeouts(config.mongo.uri, std::chrono::milliseconds(config.mongo.timeoutMs), 1);
    bson_error_t error;
    storage::MongocUriPtr parsed(mongoc_uri_new_with_error(uri.c_str(), &error));
    if (!parsed)
      return recgw::fail("mongo.uri: " + storage::redactUrlSecretsIn(error.message, config.mongo.uri));
    client_.reset(mongoc_client_new_from_uri(parsed.get()));
    if (!client_) return recgw::fail("mongo.uri: no client could be made");
    const char* db = mongoc_uri_get_database(parsed.get());
    database_ = db && *db ? db : "cxb";
    return ok();
  }
  mongoc_client_t* client() const { return client_.get(); }
  const std::string& database() const { return database_; }

 private:
  storage::MongocClientPtr client_;
  std::string database_;
};

// recgw warm: MongoDB → Redis directly, pipelined, with a progress bar on a terminal.
// A blocking Redis connection for the CLI, through the sentinels when configured, after the
// same handshake as the gateway's: AUTH and SELECT must both succeed before anything is read
// or written (a refused AUTH would turn every command into NOAUTH, a refused SELECT would use
// the wrong database); PING catches a server that wants a password we were not given.
Expected<storage::RedisContextPtr> connectRedisBlocking(const Config& config, storage::RedisAddress address) {
  timeval tv{static_cast<time_t>(config.redis.timeoutMs / 1000 + 2), 0};
  if (!config.redis.sentinels.empty()) {
    auto timeout = std::chrono::milliseconds(config.redis.timeoutMs + 2000);
    Expected<storage::RedisAddress> master =
        storage::askSentinelsBlocking(redisSentinelsFrom(config.redis), timeout, address);
    if (!master) return recgw::fail("Redis Sentinel: " + master.error().message);
    address = *master;
  }
  storage::RedisContextPtr redis(address.unixPath.empty()
                                     ? redisConnectWithTimeout(address.host.c_str(), address.port, tv)
                                     : redisConnectUnixWithTimeout(address.unixPath.c_str(), tv));
  if (!redis || redis->err)
    return recgw::fail("Redis: " + std::string(redis ? redis->errstr : "out of memory"));
  redisSetTimeout(redis.get(), tv);
  auto handshake = storage::redisHandshake(address);
  handshake.push_back({"PING"});
  for (const auto& step : handshake) {
    storage::RedisReply r = storage::redisCommandBlocking(redis.get(), step);
    if (!r.ok())
      return recgw::fail("Redis: " + storage::redisHandshakeStepName(step) + " refused: " + r.text);
  }
  return redis;
}

int warm(const std::vector<std::string>& args) {
  Flags f = parseFlags(args, {"since", "limit", "config", "batch", "help"});
  if (!f.error.empty()) return fail(f.error);
  if (f.named.count("help") || !f.named.count("since")) {
    std::fprintf(
        f.named.count("help") ? stdout : stderr,
        "usage: recgw warm --since ISO-8601 [--limit N] [--batch N] [--config FILE]\n"
        "Copies call lookups created since the date from MongoDB into Redis (tokens and session ids).\n");
    return f.named.count("help") ? 0 : 2;
  }
  auto since = storage::parseIsoInstant(f.named["since"]);
  if (!since) return fail("--since must be an ISO 8601 date, e.g. 2024-05-01 or 2024-05-01T00:00:00Z");
  int64_t limit = 1000000;
  if (f.named.count("limit")) {
    auto v = toInt(f.named["limit"]);
    if (!v || *v < 1) return fail("--limit must be a positive number");
    limit = *v;
  }
  int64_t batch = 1000;
  if (f.named.count("batch")) {
    auto v = toInt(f.named["batch"]);
    if (!v || *v < 1 || *v > 100000) return fail("--batch must be 1..100000");
    batch = *v;
  }
  Config config;
  try {
    std::optional<std::string> path;
    if (f.named.count("config")) path = f.named["config"];
    config = loadConfig(path, environ);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  Expected<storage::RedisAddress> address =
      storage::parseRedisUrl(config.redis.url, redisOverridesFrom(config.redis));
  if (!address) return fail("redis.url: " + address.error().message);

  auto startedAt = std::chrono::steady_clock::now();
  storage::WarmBatch found;
  {
    CliMongo mongo;
    if (Status opened = mongo.open(config); !opened) return fail(opened.error().message);
    found = storage::CallStore::findSinceBlocking(
        mongo.client(), mongo.database(), config.mongo.callsCollection, *since, static_cast<size_t>(limit));
  }
  if (!found.error.empty()) return fail("MongoDB: " + found.error);

  Expected<storage::RedisContextPtr> connected = connectRedisBlocking(config, *address);
  if (!connected) return fail(connected.error().message);
  storage::RedisContextPtr redis = std::move(*connected);
  auto command = [&](const std::vector<std::string>& argv) {
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (const auto& a : argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    redisAppendCommandArgv(redis.get(), static_cast<int>(argv.size()), ptrs.data(), lens.data());
  };
  // The next pipelined reply, or why there is none.
  auto nextReply = [&]() -> Expected<storage::RedisReplyPtr> {
    void* reply = nullptr;
    if (redisGetReply(redis.get(), &reply) != REDIS_OK) return recgw::fail(std::string(redis->errstr));
    return storage::RedisReplyPtr(static_cast<redisReply*>(reply));
  };

  bool tty = ::isatty(STDERR_FILENO);
  size_t total = found.found.size(), written = 0, failed = 0;
  for (size_t start = 0; start < total; start += static_cast<size_t>(batch)) {
    size_t end = std::min(total, start + static_cast<size_t>(batch));
    for (size_t i = start; i < end; ++i) {
      const auto& item = found.found[i];
      auto ttl = item.record.outcome == storage::CallRecord::Outcome::kFound ? config.redis.ttlHitS
                                                                             : config.redis.ttlMissS;
      command({"SET", storage::cacheKey(item.field, item.value), storage::encodeCachedRecord(item.record, ""),
               "EX", std::to_string(ttl)});
    }
    for (size_t i = start; i < end; ++i) {
      Expected<storage::RedisReplyPtr> r = nextReply();
      if (!r) return fail("Redis: " + r.error().message);
      (*r && (*r)->type != REDIS_REPLY_ERROR ? written : failed) += 1;
    }
    if (tty) {
      int width = 40;
      int filled = total ? static_cast<int>(width * end / total) : width;
      std::fprintf(stderr, "\r[%s%s] %zu/%zu", std::string(filled, '#').c_str(),
                   std::string(width - filled, ' ').c_str(), end, total);
    }
  }
  redis.reset();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - startedAt).count();
  if (tty) std::fprintf(stderr, "\n");
  size_t calls = 0;
  for (const auto& item : found.found) calls += item.field == storage::LookupField::kSessionId ? 1 : 0;
  std::printf("warmed %zu cache entries (token and session id of %zu calls since %s) in %.2f s; %zu failed\n",
              written, calls, f.named["since"].c_str(), seconds, failed);
  return failed ? 1 : 0;
}

std::optional<Config> cliConfig(const Flags& f) {
  try {
    std::optional<std::string> path;
    if (f.named.count("config")) path = f.named.at("config");
    return loadConfig(path, environ);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return std::nullopt;
  }
}

int statsCommand(const std::vector<std::string>& args) {
  Flags f = parseFlags(args, {"config", "json", "help"});
  if (!f.error.empty()) return fail(f.error);
  if (f.named.count("help") || f.positional.size() != 1) {
    std::fprintf(f.named.count("help") ? stdout : stderr,
                 "usage: recgw stats SESSION_ID [--json] [--config FILE]\n"
                 "Per-link analytics of a call (every token it had): opens, unique clients, bytes sent,\n"
                 "furthest byte and fraction, first and last access, suspected leaks. --json prints the\n"
                 "same document as GET /api/v1/admin/recordings/{session_id}/stats.\n");
    return f.named.count("help") ? 0 : 2;
  }
  std::optional<Config> config = cliConfig(f);
  if (!config) return 2;
  Expected<storage::RedisAddress> address =
      storage::parseRedisUrl(config->redis.url, redisOverridesFrom(config->redis));
  if (!address) return fail("redis.url: " + address.error().message);
  Expected<storage::RedisContextPtr> redis = connectRedisBlocking(*config, *address);
  if (!redis) return fail(redis.error().message);
  const std::string& sessionId = f.positional[0];
  storage::RedisReply members =
      storage::redisCommandBlocking(redis->get(), {"SMEMBERS", storage::linkStatsSessionKey(sessionId)});
  if (!members.ok()) return fail("Redis: " + members.text);
  std::vector<std::string> hashes;
  for (const auto& e : members.elements) hashes.push_back(e.text);
  std::sort(hashes.begin(), hashes.end());
  std::vector<storage::LinkStats> links;
  for (const auto& hash : hashes) {
    std::string key = storage::linkStatsKey(hash);
    storage::RedisReply fields = storage::redisCommandBlocking(redis->get(), {"HGETALL", key});
    storage::RedisReply clients = storage::redisCommandBlocking(redis->get(), {"PFCOUNT", key + ":clients"});
    if (!fields.ok() || !clients.ok()) return fail("Redis: " + (fields.ok() ? clients.text : fields.text));
    links.push_back(storage::decodeLinkStats(hash, fields, clients));
  }
  if (f.named.count("json"))
    std::printf("%s\n", storage::renderLinkStatsJson(sessionId, links).c_str());
  else
    std::fputs(storage::renderLinkStatsTable(sessionId, links).c_str(), stdout);
  return 0;
}

std::string describeKey(const storage::ApiKeyRecord& k) {
  return k.id() + "\t" + k.accountId + "\t" + k.name + "\t" + storage::formatRfc3339Utc(k.createdAt) + "\t" +
         (k.revokedAt ? "revoked " + storage::formatRfc3339Utc(*k.revokedAt) : std::string("active"));
}

// recgw api-key create|list|revoke: tenant API keys in MongoDB (storage/api_key_store.h).
int apiKeyCommand(const std::vector<std::string>& args) {
  const char* usageText =
      "usage: recgw api-key create --account ACCOUNT --name NAME [--config FILE]\n"
      "       recgw api-key list [--account ACCOUNT] [--config FILE]\n"
      "       recgw api-key revoke ID [--config FILE]\n"
      "create prints the new key once (it is stored only as its SHA-256); list shows ids;\n"
      "a revoked key stops working within api_keys.cache_s seconds.\n";
  Flags f = parseFlags(args, {"account", "name", "config", "help"});
  if (!f.error.empty()) return fail(f.error);
  if (f.named.count("help")) {
    std::fputs(usageText, stdout);
    return 0;
  }
  if (f.positional.empty()) {
    std::fputs(usageText, stderr);
    return 2;
  }
  const std::string action = f.positional[0];
  if (action == "create") {
    if (f.positional.size() != 1) return fail("api-key create takes no positional arguments");
    if (f.named["account"].empty()) return fail("--account is required");
    if (f.named["name"].empty()) return fail("--name is required");
    for (const char* field : {"account", "name"}) {
      const std::string& v = f.named[field];
      bool printable =
          std::none_of(v.begin(), v.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
      if (v.size() > 256 || !printable)
        return fail(std::string("--") + field + " must be at most 256 bytes without control characters");
    }
  } else if (action == "list") {
    if (f.positional.size() != 1 || f.named.count("name"))
      return fail("usage: recgw api-key list [--account A]");
  } else if (action == "revoke") {
    if (f.positional.size() != 2 || f.named.count("account") || f.named.count("name"))
      return fail("usage: recgw api-key revoke ID");
  } else {
    return fail("unknown api-key action '" + action + "' (create, list or revoke)");
  }
  std::optional<Config> config = cliConfig(f);
  if (!config) return 2;
  CliMongo mongo;
  if (Status opened = mongo.open(*config); !opened) return fail(opened.error().message);
  const std::string& collection = config->apiKeys.collection;
  std::string error;
  if (action == "create") {
    std::string key = storage::mintApiKey();
    storage::ApiKeyRecord record;
    record.keySha256 = storage::apiKeyHash(key);
    record.accountId = f.named["account"];
    record.name = f.named["name"];
    record.createdAt = std::chrono::system_clock::now();
    if (!storage::ApiKeyStore::createBlocking(mongo.client(), mongo.database(), collection, record, error))
      return fail("MongoDB: " + error);
    std::printf("%s\n", key.c_str());
    std::fprintf(stderr, "created API key %s for account %s (%s); the key is shown only this once\n",
                 record.id().c_str(), record.accountId.c_str(), record.name.c_str());
    return 0;
  }
  if (action == "list") {
    auto keys = storage::ApiKeyStore::listBlocking(mongo.client(), mongo.database(), collection,
                                                   f.named["account"], error);
    if (!error.empty()) return fail("MongoDB: " + error);
    std::printf("id\taccount\tname\tcreated_at\tstate\n");
    for (const auto& k : keys) std::printf("%s\n", describeKey(k).c_str());
    return 0;
  }
  auto revoked = storage::ApiKeyStore::revokeBlocking(
      mongo.client(), mongo.database(), collection, f.positional[1], std::chrono::system_clock::now(), error);
  if (!revoked) return fail(error);
  std::printf("%s\n", describeKey(*revoked).c_str());
  std::fprintf(stderr, "gateways stop accepting it within %lld s (api_keys.cache_s)\n",
               static_cast<long long>(config->apiKeys.cacheS));
  return 0;
}

// The diagnosis code of the admin route, on a loop of its own. id empty = probe only. The
// report goes to stdout, for a person or (json) as one JSON document; logs go to stderr.
int runDiagnosis(const std::string& id, const std::optional<std::string>& configPath, bool json) {
  Config config;
  try {
    config = loadConfig(configPath, environ);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  mongoc_init();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int code = 1;
  {
    reactor::EventLoop loop;
    reactor::WorkerPool workers(loop, 1, 16);
    storage::MongoClient mongo(workers, config.mongo.uri, std::chrono::milliseconds(config.mongo.timeoutMs),
                               1);
    reactor::CurlMulti curl(loop);
    std::unique_ptr<storage::RedisClient> redis;
    if (config.redis.enabled && !id.empty()) {
      if (auto address = storage::parseRedisUrl(config.redis.url, redisOverridesFrom(config.redis))) {
        redis = std::make_unique<storage::RedisClient>(loop, *address,
                                                       std::chrono::milliseconds(config.redis.timeoutMs));
        if (!config.redis.sentinels.empty()) redis->useSentinels(redisSentinelsFrom(config.redis));
        redis->start();
      }
    }
    handlers::DiagnoseDependencies deps;
    deps.loop = &loop;
    deps.mongo = &mongo;
    deps.callsCollection = config.mongo.callsCollection;
    deps.settingsCollection = config.mongo.settingsCollection;
    deps.redis = redis.get();
    deps.curl = &curl;
    deps.configStorage = storageValuesFrom(config);
    deps.timeouts = timeoutsFrom(config);
    deps.credentials = credentialSourceFrom(config);
    deps.sessionToken = config.s3.sessionToken;
    auto begin = [&] {
      handlers::diagnose(deps, id, [&](handlers::DiagnosisReport report) {
        if (json)
          std::printf("%s\n", report.toJson().c_str());
        else
          std::fputs(report.toText().c_str(), stdout);
        code = report.servable ? 0 : 1;
        loop.stop();
      });
    };
    // Give Redis a moment to connect (its client has no blocking connect), then start.
    auto waited = std::make_shared<int>(0);
    reactor::Timer poller(loop, [&] {
      if (!redis || redis->connected() || redis->authRefused() || ++*waited > 100) {
        poller.cancel();
        begin();
      }
    });
    poller.startPeriodic(std::chrono::milliseconds(10));
    loop.run();
    workers.shutdown();
  }
  curl_global_cleanup();
  mongoc_cleanup();
  return code;
}

int diagnoseCommand(const std::vector<std::string>& args) {
  Flags f = parseFlags(args, {"config", "json", "help"});
  if (!f.error.empty()) return fail(f.error);
  if (f.named.count("help") || f.positional.size() != 1) {
    std::fprintf(f.named.count("help") ? stdout : stderr,
                 "usage: recgw diagnose TOKEN|SESSION_ID [--config FILE] [--json]\n"
                 "Explains how a link would be served: the verdict and the first thing to fix, then\n"
                 "each step. --json prints the report as one JSON document (for scripts).\n"
                 "Exit 0 when servable, 1 when not.\n");
    return f.named.count("help") ? 0 : 2;
  }
  std::optional<std::string> path;
  if (f.named.count("config")) path = f.named["config"];
  return runDiagnosis(f.positional[0], path, f.named.count("json") > 0);
}

}  // namespace

// recgw ensure-indexes [--check]: the indexes recgw needs on `calls` (storage/call_indexes.h).
// The collection belongs to CXB, so this runs only when an operator asks.
int ensureIndexesCommand(const std::vector<std::string>& args) {
  const char* usageText =
      "usage: recgw ensure-indexes [--check] [--config FILE]\n"
      "  creates the indexes recgw needs on mongo.calls_collection (unique recording_access_token,\n"
      "  session_id, created_at); --check only lists the missing ones (exit 1 if any)\n";
  Flags f = parseFlags(args, {"config", "check", "help"});
  if (f.named.count("help")) {
    std::printf("%s", usageText);
    return 0;
  }
  if (!f.error.empty()) return fail(f.error);
  if (!f.positional.empty()) return fail("ensure-indexes takes no arguments");
  auto config = cliConfig(f);
  if (!config) return 2;
  CliMongo mongo;
  if (Status opened = mongo.open(*config); !opened) return fail(opened.error().message);
  const std::string& collection = config->mongo.callsCollection;
  if (f.named.count("check")) {
    auto report = storage::checkCallIndexesBlocking(mongo.client(), mongo.database(), collection);
    if (!report)
      return fail("MongoDB: " + storage::redactUrlSecretsIn(report.error().message, config->mongo.uri), 1);
    if (!report->collectionExists) {
      std::printf("%s.%s does not exist yet: nothing to scan\n", mongo.database().c_str(),
                  collection.c_str());
      return 0;
    }
    if (report->missing.empty()) {
      std::printf("%s.%s has every index recgw needs\n", mongo.database().c_str(), collection.c_str());
      return 0;
    }
    std::printf("%s.%s lacks: %s\nrun `recgw ensure-indexes` to create them\n", mongo.database().c_str(),
                collection.c_str(), storage::describeMissing(report->missing).c_str());
    return 1;
  }
  auto outcome = storage::ensureCallIndexesBlocking(mongo.client(), mongo.database(), collection);
  if (!outcome)
    return fail("MongoDB: " + storage::redactUrlSecretsIn(outcome.error().message, config->mongo.uri), 1);
  for (const auto& field : outcome->present)
    std::printf("%s.%s: %s already indexed\n", mongo.database().c_str(), collection.c_str(), field.c_str());
  for (const auto& name : outcome->created)
    std::printf("%s.%s: created %s\n", mongo.database().c_str(), collection.c_str(), name.c_str());
  return 0;
}

int probeConfiguration(const std::optional<std::string>& configPath, bool json) {
  return runDiagnosis("", configPath, json);
}

int runToolCommand(const std::string& command, const std::vector<std::string>& args) {
  if (command == "presign") return presign(args);
  if (command == "extract-key") return extractKey(args);
  if (command == "mint-token") {
    if (!args.empty()) return fail("mint-token takes no arguments");
    std::printf("%s\n", storage::mintToken().c_str());
    return 0;
  }
  if (command == "warm") return warm(args);
  if (command == "stats") return statsCommand(args);
  if (command == "diagnose") return diagnoseCommand(args);
  if (command == "api-key") return apiKeyCommand(args);
  if (command == "ensure-indexes") return ensureIndexesCommand(args);
  return -1;
}

}  // namespace recgw::app
