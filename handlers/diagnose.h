#pragma once
// "Why does this link 404?" — a read-only, step-by-step trace of how a token or session id
// would be served (issue: diagnose): cache tiers, the call document (which fields exist,
// never their secret values), the derived key, the storage settings in force, a probe of
// storage (status, S3 error code, the region S3 expects) and of each fleet host, and a
// verdict naming the first thing to fix. Never streams the object, never changes state.
// Used by GET /api/v1/admin/diagnose/{id} and by `recgw diagnose` (same code).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fleet/source_chain.h"
#include "handlers/failed_lookup_limiter.h"
#include "handlers/jwt_verifier.h"
#include "reactor/curl_multi.h"
#include "reactor/event_loop.h"
#include "reactor/http_server.h"
#include "storage/credentials_sources.h"
#include "storage/lookup_cache.h"
#include "storage/mongo_client.h"
#include "storage/redis_client.h"
#include "storage/storage_settings.h"

namespace recgw::handlers {

struct DiagnoseDependencies {
  reactor::EventLoop* loop = nullptr;
  storage::MongoClient* mongo = nullptr;
  std::string callsCollection = "calls";
  std::string settingsCollection = "system_settings";
  storage::RedisClient* redis = nullptr;  // may be null
  storage::LookupCache* cache = nullptr;  // may be null (CLI: no L1)
  reactor::CurlMulti* curl = nullptr;
  storage::StorageValues configStorage;  // config/env values (they win over the document)
  std::string fleetSecretHeader;         // empty: the one the storage settings carry
  fleet::UpstreamTimeouts timeouts;
  // Where the storage credentials come from (s3.credentials, s3.role_arn …). Its kind
  // "static" without a role: the settings' keys and `sessionToken` are signed with directly;
  // otherwise the diagnosis fetches a fresh set from the source (its staticKeys are the
  // merged settings' keys) and names the source, or why the fetch failed.
  storage::CredentialSourceSettings credentials;
  std::string sessionToken;
};

struct DiagnosisStep {
  std::string name;     // "cache", "call", "key", "storage_settings", "storage", "fleet:0", …
  std::string status;   // ok, warn, fail, skip
  std::string summary;  // one line
  std::vector<std::pair<std::string, std::string>> details;
};

struct DiagnosisReport {
  std::string subject;  // the id, redacted
  std::vector<DiagnosisStep> steps;
  std::string verdict;
  bool servable = false;
  std::string toJson() const;
  std::string toText() const;  // for a person: the verdict and what to fix first, then a step table
};

// Runs the whole trace; `done` fires once on the loop thread. With `id` empty only the
// storage and fleet parts run (check-config --probe).
void diagnose(const DiagnoseDependencies& deps, const std::string& id,
              std::function<void(DiagnosisReport)> done);

// S3 error XML: <Code> and <Region> (empty when absent). Pure; exposed for tests.
struct S3ErrorInfo {
  std::string code;
  std::string region;
  std::string message;
};
S3ErrorInfo parseS3Error(std::string_view xml);

struct DiagnoseRouteContext {
  DiagnoseDependencies deps;
  const JwtVerifier* jwt = nullptr;
  std::unique_ptr<FailedLookupLimiter> limiter;  // every diagnosis costs a token
  std::vector<std::string> trustedProxies;       // for the client address behind a proxy
};
void registerDiagnoseRoute(reactor::HttpServer& server, std::shared_ptr<DiagnoseRouteContext> context);

}  // namespace recgw::handlers
