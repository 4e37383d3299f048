#include "handlers/api_key_auth.h"

#include <algorithm>
#include <memory>

#include "reactor/exchange_ref.h"
#include "reactor/logger.h"

namespace recgw::handlers {
namespace {

// Bounds the memory of the cache: a worker rarely sees this many distinct live keys within
// one TTL; past it, expired entries go first, then everything.
constexpr size_t kMaxCachedKeys = 10000;

TenantAuth failed(std::string message, std::string wwwAuthenticate = "Bearer") {
  TenantAuth out;
  out.failure.message = std::move(message);
  out.failure.wwwAuthenticate = std::move(wwwAuthenticate);
  return out;
}

}  // namespace

ApiKeyVerifier::ApiKeyVerifier(storage::MongoClient& mongo, std::string collection,
                               std::chrono::seconds cacheTtl)
    : mongo_(mongo), collection_(std::move(collection)), cacheTtl_(cacheTtl) {}

void ApiKeyVerifier::remember(const std::string& hash, const std::string& accountId) {
  if (cacheTtl_.count() <= 0) return;
  auto now = std::chrono::steady_clock::now();
  if (cache_.size() >= kMaxCachedKeys) {
    std::erase_if(cache_, [now](const auto& entry) { return entry.second.until <= now; });
    if (cache_.size() >= kMaxCachedKeys) cache_.clear();
  }
  cache_[hash] = Cached{accountId, now + cacheTtl_};
}

void ApiKeyVerifier::verify(const std::string& key, std::function<void(const storage::ApiKeyLookup&)> done,
                            const std::function<bool()>& admitQuery) {
  std::string hash = storage::apiKeyHash(key);
  if (auto it = cache_.find(hash); it != cache_.end()) {
    if (it->second.until > std::chrono::steady_clock::now()) {
      storage::ApiKeyLookup hit;
      hit.outcome = storage::ApiKeyLookup::Outcome::kActive;
      hit.accountId = it->second.accountId;
      return done(hit);
    }
    cache_.erase(it);
  }
  if (auto it = inFlight_.find(hash); it != inFlight_.end()) {
    it->second.push_back(std::move(done));  // joins the lookup already on its way
    return;
  }
  if (admitQuery && !admitQuery()) {
    storage::ApiKeyLookup refused;
    refused.outcome = storage::ApiKeyLookup::Outcome::kRefused;
    return done(refused);
  }
  inFlight_[hash].push_back(std::move(done));
  std::string database = mongo_.databaseName();
  std::string collection = collection_;
  reactor::LivenessWatch alive = alive_;
  bool queued = mongo_.run([this, alive, database, collection, hash](mongoc_client_t* client) {
    storage::ApiKeyLookup lookup = storage::ApiKeyStore::findBlocking(client, database, collection, hash);
    return reactor::WorkerPool::Completion([this, alive, hash, lookup] {
      if (alive.expired()) return;
      if (lookup.outcome == storage::ApiKeyLookup::Outcome::kActive) remember(hash, lookup.accountId);
      auto node = inFlight_.extract(hash);
      if (node.empty()) return;
      for (auto& callback : node.mapped()) callback(lookup);
    });
  });
  if (!queued) {
    auto node = inFlight_.extract(hash);
    storage::ApiKeyLookup busy;
    busy.error = "MongoDB worker queue is full";
    if (!node.empty()) {
      for (auto& callback : node.mapped()) callback(busy);
    }
  }
}

void authenticateTenant(reactor::HttpExchange& ex, const JwtVerifier* jwt, ApiKeyVerifier* keys,
                        std::function<void(reactor::HttpExchange&, const TenantAuth&)> done,
                        FailedLookupLimiter* limiter, const std::vector<std::string>& trustedProxies) {
  const char* header = ex.header("Authorization");
  if (!header) return done(ex, failed("a Bearer token or API key is required"));
  auto credential = bearerToken(header);
  if (!credential) return done(ex, failed("the Authorization header is not a Bearer credential"));

  if (credential->substr(0, storage::kApiKeyPrefix.size()) == storage::kApiKeyPrefix) {
    // Same answer for a malformed, unknown and revoked key: nothing to learn by probing.
    const std::string invalidKey = "the API key is not valid";
    if (!keys || !storage::looksLikeApiKey(*credential)) {
      ex.noteReason("api key: malformed");
      return done(ex, failed(invalidKey, "Bearer error=\"invalid_token\""));
    }
    reactor::ExchangeRef request(ex);
    std::string requestId = ex.requestId();
    struct Charge {
      std::string client;
      bool charged = false;
      int retryAfter = 0;
    };
    auto charge = std::make_shared<Charge>();
    std::function<bool()> admitQuery;
    if (limiter) {
      charge->client = clientAddress(ex.peerAddress(), ex.header("X-Forwarded-For"), trustedProxies);
      admitQuery = [limiter, charge] {
        charge->retryAfter = limiter->tryCharge(charge->client);
        charge->charged = charge->retryAfter == 0;
        return charge->charged;
      };
    }
    keys->verify(
        std::string(*credential),
        [request, requestId, invalidKey, done, limiter, charge](const storage::ApiKeyLookup& lookup) {
          using Outcome = storage::ApiKeyLookup::Outcome;
          if (charge->charged && lookup.outcome == Outcome::kActive) limiter->refund(charge->client);
          request.with([&](reactor::HttpExchange& exchange) {
            reactor::HttpExchange* ex = &exchange;
            switch (lookup.outcome) {
              case Outcome::kRefused: {
                ex->noteReason("api key: address over its failed-lookup limit");
                ex->addHeader("Retry-After", std::to_string(std::max(1, charge->retryAfter)));
                TenantAuth out;
                out.failure.status = 429;
                out.failure.code = "rate_limited";
                out.failure.message = "too many failed lookups from this address; retry later";
                return done(*ex, out);
              }
              case Outcome::kActive: {
                TenantAuth ok;
                ok.principal = TenantPrincipal{lookup.accountId, false, true};
                return done(*ex, ok);
              }
              case Outcome::kRevoked:
                ex->noteReason("api key: revoked");
                return done(*ex, failed(invalidKey, "Bearer error=\"invalid_token\""));
              case Outcome::kUnknown:
                ex->noteReason("api key: unknown");
                return done(*ex, failed(invalidKey, "Bearer error=\"invalid_token\""));
              case Outcome::kUnavailable: {
                reactor::Logger::log(reactor::LogLevel::kWarn, requestId, "api key lookup failed",
                                     {{"error", lookup.error}});
                TenantAuth out;
                out.failure.status = 503;
                out.failure.code = "auth_unavailable";
                out.failure.message = "the API key could not be checked; retry shortly";
                return done(*ex, out);
              }
            }
          });
        },
        admitQuery);
    return;
  }

  if (!jwt) return done(ex, failed("no JWT keys are configured on this gateway"));
  VerifyResult result = jwt->verify(*credential, std::chrono::system_clock::now());
  if (!result.ok()) {
    ex.noteReason(std::string("jwt: ") + std::string(jwtErrorName(result.error)));
    return done(ex, failed(result.message, "Bearer error=\"invalid_token\""));
  }
  TenantAuth ok;
  ok.principal = TenantPrincipal{result.claims.accountId, result.claims.isPlatformAdmin(), false};
  done(ex, ok);
}

}  // namespace recgw::handlers
