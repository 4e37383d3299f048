#pragma once
// Tenant authentication for the signed-URL routes: `Authorization: Bearer <credential>`
// where the credential is a JWT (handlers/jwt_verifier.h) or an API key (`rgw_…`,
// storage/api_key_store.h). Answers nothing itself: the caller writes the failure in its
// API's error shape.
//
// API keys are looked up by SHA-256 on the MongoDB worker pool (never on the loop), one
// lookup per key at a time however many requests carry it. A key found active is trusted
// from this worker's memory for `cacheTtl`: a revoked key stops working within that time
// (api_keys.cache_s, at most 30 s). Unknown and revoked keys are never cached, so a key
// created a moment ago works at once. Keys are never logged.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "handlers/failed_lookup_limiter.h"
#include "handlers/jwt_verifier.h"
#include "reactor/http_server.h"
#include "reactor/liveness.h"
#include "storage/api_key_store.h"
#include "storage/mongo_client.h"

namespace recgw::handlers {

class ApiKeyVerifier {
 public:
  ApiKeyVerifier(storage::MongoClient& mongo, std::string collection, std::chrono::seconds cacheTtl);

  // `done` runs exactly once on the loop thread (synchronously for a cached key or a full
  // queue). Only kActive carries an account. `admitQuery`, when given, is asked only when
  // the key would cost a MongoDB query (not cached, no lookup of it on its way); false
  // answers kRefused without a query.
  void verify(const std::string& key, std::function<void(const storage::ApiKeyLookup&)> done,
              const std::function<bool()>& admitQuery = {});
  void setCacheTtl(std::chrono::seconds ttl) { cacheTtl_ = ttl; }
  size_t cachedKeys() const { return cache_.size(); }

 private:
  struct Cached {
    std::string accountId;
    std::chrono::steady_clock::time_point until;
  };
  void remember(const std::string& hash, const std::string& accountId);

  storage::MongoClient& mongo_;
  std::string collection_;
  std::chrono::seconds cacheTtl_;
  std::unordered_map<std::string, Cached> cache_;  // by key hash
  std::unordered_map<std::string, std::vector<std::function<void(const storage::ApiKeyLookup&)>>> inFlight_;
  reactor::Liveness alive_;
};

// Who is asking, once authenticated.
struct TenantPrincipal {
  std::string accountId;  // the key's account, or the JWT's account claim (may be empty)
  bool admin = false;     // a JWT with the platform admin role: may act for any account
  bool apiKey = false;
  // May this principal act for `account`? Never for an empty account.
  bool mayActFor(const std::string& account) const {
    return !account.empty() && (admin || accountId == account);
  }
};

struct TenantAuthFailure {
  int status = 401;
  std::string code = "unauthorized";
  std::string message;          // safe to show: never the credential
  std::string wwwAuthenticate;  // the WWW-Authenticate header to send (401)
};

struct TenantAuth {
  std::optional<TenantPrincipal> principal;
  TenantAuthFailure failure;  // when !principal
};

// Checks the Bearer credential of `ex`. `done` runs once on the loop with the exchange if it
// still exists (a client that left while the key was looked up gets nothing). `keys` null:
// API keys are refused like any invalid credential.
// `limiter` (may be null): an API key that costs a MongoDB query is charged to the client's
// address like an unknown public token, and given back when the key is active; an address
// out of budget gets 429 (code `rate_limited`) — a flood of random keys cannot fill the
// MongoDB queue the public links share.
void authenticateTenant(reactor::HttpExchange& ex, const JwtVerifier* jwt, ApiKeyVerifier* keys,
                        std::function<void(reactor::HttpExchange&, const TenantAuth&)> done,
                        FailedLookupLimiter* limiter = nullptr,
                        const std::vector<std::string>& trustedProxies = {});

}  // namespace recgw::handlers
