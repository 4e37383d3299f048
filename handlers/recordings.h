#pragma once
// GET/HEAD /api/v1/public/recordings/{token} (the token is the secret) and
// GET/HEAD /api/v1/recordings/{session_id} (admin JWT): resolve the key, then stream it.
// The second route takes every id except those of rooms recordings ("rec_…", see
// storage::hasRecordingIdPrefix), which the lifecycle routes answer (handlers/lifecycle.h).
#include <functional>
#include <memory>
#include <string>

#include "fleet/source_chain.h"
#include "handlers/failed_lookup_limiter.h"
#include "handlers/jwt_verifier.h"
#include "handlers/public_link_status.h"
#include "handlers/stream_relay.h"
#include "reactor/http_server.h"
#include "storage/call_store.h"
#include "storage/credentials_provider.h"
#include "storage/link_analytics.h"
#include "storage/storage_settings.h"

namespace recgw::handlers {

class ObjectServer;

// Resolves a token or session id to a call: the lookup tiers live behind this.
// `tier` says which tier answered ("l1", "redis", "mongo", or storage::kRefusedTier when
// `mongoAdmission` refused to let it reach MongoDB); `hint` is where the object was last
// found ("storage", "fleet:N"), empty when unknown. See storage::LookupCache::resolve.
using CallResolver = std::function<void(
    storage::LookupField field, const std::string& value,
    std::function<void(storage::CallRecord record, std::string tier, std::string hint)> done,
    std::function<bool()> mongoAdmission)>;

// A SigV4 signer for the storage settings and credentials now in force, rebuilt when
// either changes. Without a credentials provider it signs with the settings' keys (and
// s3.session_token); with one, with the provider's current credentials.
class StorageSigner {
 public:
  explicit StorageSigner(storage::SettingsStore& settings, std::string sessionToken = {},
                         storage::CredentialsProvider* provider = nullptr)
      : settings_(settings), sessionToken_(std::move(sessionToken)), provider_(provider) {}
  // Null when storage is incomplete or has no valid credentials. The pointer is good until
  // the next call; keep shared() for longer.
  storage::SigV4Signer* get() { return shared().get(); }
  std::shared_ptr<storage::SigV4Signer> shared();
  const storage::StorageSettings& settings() const { return settings_.current(); }
  // Storage is configured but no valid credentials exist right now (the reason is in
  // the provider's status).
  bool credentialsUnavailable();
  storage::CredentialsProvider* provider() const { return provider_; }
  // SIGHUP: a new s3.session_token (static keys) is signed with from the next request on.
  void setSessionToken(std::string sessionToken) {
    if (sessionToken == sessionToken_) return;
    sessionToken_ = std::move(sessionToken);
    signer_.reset();
  }
  // The provider generation the current signer was built from (0 without a provider).
  uint64_t credentialsGeneration() const { return credentialsGeneration_; }

 private:
  storage::SettingsStore& settings_;
  std::string sessionToken_;
  storage::CredentialsProvider* provider_;
  uint64_t generation_ = 0;
  uint64_t credentialsGeneration_ = 0;
  std::shared_ptr<storage::SigV4Signer> signer_;
};

// Admin JWT check shared by the routes that are not scoped to one account (session streams,
// token minting, cache, diagnose): the token must hold jwt.platform_admin_role. A role that
// is admin of one account only gets 403 here. Answers 401/403 itself and returns nullopt then.
std::optional<JwtClaims> requireAdmin(reactor::HttpExchange& ex, const JwtVerifier* verifier);
// Any valid JWT (tenant routes). Answers 401 itself and returns nullopt then.
std::optional<JwtClaims> requireToken(reactor::HttpExchange& ex, const JwtVerifier* verifier);

struct RecordingsContext {
  CallResolver resolve;
  StorageSigner* signer = nullptr;
  RelayRegistry* relays = nullptr;
  const JwtVerifier* jwt = nullptr;  // null: admin routes answer 401
  std::string fleetSecretHeader;     // empty: the one the storage settings carry
  fleet::UpstreamTimeouts timeouts;
  // Failed public lookups per client address, charged only for lookups that reach MongoDB;
  // null = unlimited.
  FailedLookupLimiter* limiter = nullptr;
  std::vector<std::string> trustedProxies;
  // Remember where an object was found (lookup hint); may be empty.
  std::function<void(storage::LookupField, const std::string& value, const std::string& sourceLabel)>
      noteSource;
  // The public route's link and recording statuses (revoked, expired, not ready, ...),
  // download and redirect modes.
  PublicLinkSettings publicLinks;
  reactor::CurlMulti* curl = nullptr;           // redirect mode's HEAD to storage; null: always stream
  storage::LinkAnalytics* analytics = nullptr;  // per-link counters; null: not counted
  // The worker's object cache in front of the relays (handlers/object_serving.h); null: relay only.
  ObjectServer* objects = nullptr;
};

void registerRecordingRoutes(reactor::HttpServer& server, std::shared_ptr<RecordingsContext> context);

// Builds the source chain for a key; exposed for the diagnose and presign handlers.
fleet::SourceChain makeSourceChain(RecordingsContext& context, const std::string& key);

}  // namespace recgw::handlers
