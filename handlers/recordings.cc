#include "handlers/recordings.h"

#include "reactor/logger.h"

namespace recgw::handlers {

storage::SigV4Signer* StorageSigner::get() {
  const auto& s = settings_.current();
  if (!s.storageComplete()) return nullptr;
  if (!signer_ || generation_ != settings_.generation()) {
    storage::S3Location loc = s.location();
    signer_ = std::make_unique<storage::SigV4Signer>(s.values.accessKey, s.values.secretKey, loc.region);
    generation_ = settings_.generation();
  }
  return signer_.get();
}

namespace {

std::optional<JwtClaims> verifyBearer(reactor::HttpExchange& ex, const JwtVerifier* verifier) {
  const char* auth = ex.header("Authorization");
  if (!auth) {
    ex.addHeader("WWW-Authenticate", "Bearer");
    ex.replyError(401, "unauthorized", "a Bearer token is required");
    return std::nullopt;
  }
  auto token = bearerToken(auth);
  if (!token || !verifier) {
    ex.addHeader("WWW-Authenticate", "Bearer");
    ex.replyError(401, "unauthorized",
                  verifier ? "the Authorization header is not a Bearer token"
                           : "no JWT keys are configured on this gateway");
    return std::nullopt;
  }
  VerifyResult result = verifier->verify(*token, std::chrono::system_clock::now());
  if (!result.ok()) {
    ex.addHeader("WWW-Authenticate", "Bearer error=\"invalid_token\"");
    ex.noteReason(std::string("jwt: ") + std::string(jwtErrorName(result.error)));
    ex.replyError(401, "unauthorized", result.message);
    return std::nullopt;
  }
  return result.claims;
}

}  // namespace

std::optional<JwtClaims> requireToken(reactor::HttpExchange& ex, const JwtVerifier* verifier) {
  return verifyBearer(ex, verifier);
}

std::optional<JwtClaims> requireAdmin(reactor::HttpExchange& ex, const JwtVerifier* verifier) {
  auto claims = verifyBearer(ex, verifier);
  if (!claims) return std::nullopt;
  if (!claims->isPlatformAdmin()) {
    ex.replyError(403, "forbidden", "this route needs the platform admin role (jwt.platform_admin_role)");
    return std::nullopt;
  }
  return claims;
}

fleet::SourceChain makeSourceChain(RecordingsContext& context, const std::string& key) {
  return fleet::SourceChain(context.signer->settings(), context.signer->get(), key, context.fleetSecretHeader,
                            context.timeouts);
}

namespace {

// The failure was charged when the lookup started (see streamCall).
void notFound(reactor::HttpExchange& ex, const char* reason) {
  ex.noteReason(reason);
  ex.replyError(404, "not_found", "recording not found");
}

void streamCall(reactor::HttpExchange& ex, std::shared_ptr<RecordingsContext> ctx, storage::LookupField field,
                const std::string& value) {
  // Only the public route is rate-limited: admin routes are authenticated.
  std::string client;
  if (field == storage::LookupField::kToken && ctx->limiter) {
    client = clientAddress(ex.peerAddress(), ex.header("X-Forwarded-For"), ctx->trustedProxies);
    if (int wait = ctx->limiter->retryAfter(client); wait > 0) {
      ex.server().metrics().inc("recgw_rate_limited_total");
      ex.addHeader("Retry-After", std::to_string(wait));
      ex.replyError(429, "rate_limited", "too many failed lookups from this address; retry later");
      return;
    }
  }
  // Charge the lookup now and refund it if it succeeds: a scanner's lookups in flight count
  // against its bucket. L1 hits resolve synchronously, so they never hold a unit, and
  // requests joining a lookup already charged to this client are not charged again.
  std::string chargeKey;
  if (!client.empty()) {
    chargeKey = client + '\n' + value;
    if (ctx->chargedLookups.insert(chargeKey).second)
      ctx->limiter->recordFailure(client);
    else
      chargeKey.clear();
  }
  auto settleCharge = [ctx, client, chargeKey](bool failed) {
    if (chargeKey.empty()) return;
    ctx->chargedLookups.erase(chargeKey);
    if (!failed) ctx->limiter->refund(client);
  };
  if (!isSafePathParam(value)) {
    settleCharge(true);
    // Same answer as an unknown token: a scanner learns nothing from the shape.
    notFound(ex, "invalid id");
    return;
  }
  if (!ctx->relays->admit()) {
    settleCharge(false);
    ex.addHeader("Retry-After", "2");
    ex.server().metrics().inc("recgw_streams_rejected_total");
    ex.replyError(503, "overloaded", "too many bytes are waiting for slow clients; retry shortly");
    return;
  }
  reactor::HttpServer* server = &ex.server();
  uint64_t id = ex.id();
  ClientConditions conditions = ClientConditions::from(ex);
  ctx->resolve(field, value,
               [server, id, ctx, field, value, conditions, settleCharge](storage::CallRecord record,
                                                                         std::string tier, std::string hint) {
                 settleCharge(record.outcome == storage::CallRecord::Outcome::kNoCall ||
                              record.outcome == storage::CallRecord::Outcome::kNoKey);
                 reactor::HttpExchange* ex = server->find(id);
                 if (!ex) return;
                 ex->noteLookupSource(tier);
                 switch (record.outcome) {
                   case storage::CallRecord::Outcome::kNoCall:
                     notFound(*ex, "no call");
                     return;
                   case storage::CallRecord::Outcome::kNoKey:
                     notFound(*ex, "no key");
                     return;
                   case storage::CallRecord::Outcome::kUnavailable:
                     reactor::Logger::log(reactor::LogLevel::kWarn, ex->requestId(),
                                          "call lookup unavailable", {{"error", record.error}});
                     ex->addHeader("Retry-After", "5");
                     ex->replyError(503, "lookup_unavailable",
                                    "the recording index is unavailable; retry shortly");
                     return;
                   case storage::CallRecord::Outcome::kFound:
                     break;
                 }
                 fleet::SourceChain chain = makeSourceChain(*ctx, record.key);
                 if (!hint.empty()) chain.preferFirst(hint);
                 if (chain.sources().empty()) {
                   ex->noteReason("no storage settings and no fleet hosts");
                   ex->addHeader("Retry-After", "30");
                   ex->replyError(503, "no_sources", "no storage or fleet host is configured");
                   return;
                 }
                 std::function<void(const std::string&)> onFound;
                 if (ctx->noteSource) {
                   // The usual case is the hinted source serving again: nothing to note (and no
                   // second hash of the token for its cache key).
                   onFound = [ctx, field, value, hint](const std::string& label) {
                     if (label != hint) ctx->noteSource(field, value, label);
                   };
                 }
                 ctx->relays->start(*ex, std::move(chain), conditions, std::move(onFound));
               });
}

}  // namespace

void registerRecordingRoutes(reactor::HttpServer& server, std::shared_ptr<RecordingsContext> context) {
  server.route(reactor::kGet | reactor::kHead, "/api/v1/public/recordings/{token}", "public_recording",
               [context](reactor::HttpExchange& ex) {
                 streamCall(ex, context, storage::LookupField::kToken, ex.pathParams()[0]);
               });
  server.route(reactor::kGet | reactor::kHead, "/api/v1/recordings/{session_id}", "admin_recording",
               [context](reactor::HttpExchange& ex) {
                 const std::string& id = ex.pathParams()[0];
                 if (context->lifecycleGet && id.rfind("rec_", 0) == 0) return context->lifecycleGet(ex, id);
                 if (!requireAdmin(ex, context->jwt)) return;
                 streamCall(ex, context, storage::LookupField::kSessionId, id);
               });
}

}  // namespace recgw::handlers
