#include "handlers/recordings.h"

#include <algorithm>

#include "handlers/link_stats.h"
#include "handlers/public_link_modes.h"
#include "handlers/object_serving.h"
#include "reactor/exchange_ref.h"
#include "reactor/logger.h"
#include "storage/lookup_cache.h"
#include "storage/recording_store.h"

namespace recgw::handlers {

std::shared_ptr<storage::SigV4Signer> StorageSigner::shared() {
  const auto& s = settings_.current();
  if (!s.storageComplete()) return nullptr;
  const storage::AwsCredentials* credentials = provider_ ? provider_->current() : nullptr;
  if (provider_ && !credentials) return nullptr;
  uint64_t credentialsGeneration = provider_ ? provider_->generation() : 0;
  if (!signer_ || generation_ != settings_.generation() || credentialsGeneration_ != credentialsGeneration) {
    storage::S3Location loc = s.location();
    // A stream in progress keeps the signer it started with (SourceChain shares it).
    signer_ = credentials
                  ? std::make_shared<storage::SigV4Signer>(credentials->accessKey, credentials->secretKey,
                                                           loc.region, "s3", credentials->sessionToken)
                  : std::make_shared<storage::SigV4Signer>(s.values.accessKey, s.values.secretKey, loc.region,
                                                           "s3", sessionToken_);
    generation_ = settings_.generation();
    credentialsGeneration_ = credentialsGeneration;
  }
  return signer_;
}

bool StorageSigner::credentialsUnavailable() {
  return provider_ && settings_.current().storageComplete() && !provider_->current();
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
  return fleet::SourceChain(context.signer->settings(), context.signer->shared(), key,
                            context.fleetSecretHeader, context.timeouts);
}

namespace {

void notFound(reactor::HttpExchange& ex, const char* reason) {
  ex.noteReason(reason);
  ex.replyError(404, "not_found", "recording not found");
}

// The failed-lookup limit of one public request. It guards MongoDB, not the links: the
// token is the secret (32 random bytes, not guessable), so a lookup L1 or Redis answers —
// a valid link, or a cached miss (404) — is never refused, even to an address over its
// limit. Only a lookup about to query MongoDB is charged (and refused with 429 when the
// bucket is empty); MongoDB finding the call refunds the charge (a miss or a failure does
// not), so a busy address that only plays real links never runs dry, while unknown tokens
// — each a MongoDB query — do.
struct LookupCharge {
  FailedLookupLimiter* limiter = nullptr;
  std::string client;
  bool charged = false;
  int retryAfter = 0;  // set when refused
};

// The call is found and storage can be signed for (or is not configured): relay the
// recording from its sources.
void relayFromSources(reactor::HttpExchange& exchange, const std::shared_ptr<RecordingsContext>& ctx,
                      storage::LookupField field, const std::string& value,
                      const ClientConditions& conditions, const std::string& key, const std::string& hint) {
  reactor::HttpExchange* ex = &exchange;
  fleet::SourceChain chain = makeSourceChain(*ctx, key);
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
  if (ctx->objects)
    return ctx->objects->serve(*ex, std::move(chain), conditions, std::move(onFound), field, value);
  ctx->relays->start(*ex, std::move(chain), conditions, std::move(onFound));
}

void streamCall(reactor::HttpExchange& ex, std::shared_ptr<RecordingsContext> ctx, storage::LookupField field,
                const std::string& value) {
  if (!isSafePathParam(value)) {
    // Same answer as an unknown token: a scanner learns nothing from the shape. Nothing
    // was looked up, so nothing is charged.
    notFound(ex, "invalid id");
    return;
  }
  if (!ctx->relays->admit()) {
    ex.addHeader("Retry-After", "2");
    ex.server().metrics().inc("recgw_streams_rejected_total");
    ex.replyError(503, "overloaded", "too many bytes are waiting for slow clients; retry shortly");
    return;
  }
  // Only the public route is rate-limited: admin routes are authenticated.
  std::shared_ptr<LookupCharge> charge;
  std::function<bool()> mongoAdmission;
  if (field == storage::LookupField::kToken && ctx->limiter) {
    charge = std::make_shared<LookupCharge>();
    charge->limiter = ctx->limiter;
    charge->client = clientAddress(ex.peerAddress(), ex.header("X-Forwarded-For"), ctx->trustedProxies);
    mongoAdmission = [charge] {
      charge->retryAfter = charge->limiter->tryCharge(charge->client);
      charge->charged = charge->retryAfter == 0;
      return charge->charged;
    };
  }
  reactor::ExchangeRef request(ex);
  ClientConditions conditions = ClientConditions::from(ex);
  auto done = [request, ctx, field, value, conditions, charge](storage::CallRecord record, std::string tier,
                                                               std::string hint) {
    // Only a call MongoDB found gives the unit back: an answer that timed out or failed
    // cost MongoDB as much as a miss, and refunding it would stop the limit exactly when a
    // struggling MongoDB needs it.
    bool found = record.outcome == storage::CallRecord::Outcome::kFound;
    if (charge && charge->charged && found) charge->limiter->refund(charge->client);
    request.with([&](reactor::HttpExchange& ex) {
      ex.noteLookupSource(tier);
      if (tier == storage::kRefusedTier) {
        ex.server().metrics().inc("recgw_rate_limited_total");
        ex.addHeader("Retry-After", std::to_string(std::max(1, charge ? charge->retryAfter : 1)));
        ex.replyError(429, "rate_limited", "too many failed lookups from this address; retry later");
        return;
      }
      if (field == storage::LookupField::kToken &&
          answerLinkState(ex, record, ctx->publicLinks,
                          std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count()))
        return;
      switch (record.outcome) {
        case storage::CallRecord::Outcome::kNoCall:
          notFound(ex, "no call");
          return;
        case storage::CallRecord::Outcome::kNoKey:
          notFound(ex, "no key");
          return;
        case storage::CallRecord::Outcome::kUnavailable:
          reactor::Logger::log(reactor::LogLevel::kWarn, ex.requestId(), "call lookup unavailable",
                               {{"error", record.error}});
          ex.addHeader("Retry-After", "5");
          ex.replyError(503, "lookup_unavailable", "the recording index is unavailable; retry shortly");
          return;
        case storage::CallRecord::Outcome::kFound:
          break;
      }
      // A public link may ask for a download (its own Content-Disposition) or a redirect.
      ClientConditions served = conditions;
      PublicDelivery delivery;
      if (field == storage::LookupField::kToken) {
        delivery = publicDeliveryFor(ex, ctx->publicLinks, record);
        served.contentDisposition = delivery.contentDisposition;
        if (ctx->analytics)
          watchLinkHit(ex, *ctx->analytics, value, record.sessionId, conditions, ctx->trustedProxies);
      }
      auto stream = [ctx, field, value, served, key = record.key, hint](reactor::HttpExchange& ex) {
        relayFromSources(ex, ctx, field, value, served, key, hint);
      };
      if (ctx->signer->credentialsUnavailable()) {
        // No valid credentials at all (start-up, or every refresh failed until expiry): wait
        // for the fetch in flight, if any. Storage is where recordings live: answering 404 or
        // falling back silently would hide that the gateway cannot read it, so a failed wait
        // is a 503 (the reason is logged by the provider and shown in /readyz).
        ctx->signer->provider()->waitForCredentials(
            [request, ctx, field, value, served, key = record.key, hint](bool ok) {
              request.with([&](reactor::HttpExchange& ex) {
                if (!ok || ctx->signer->credentialsUnavailable()) {
                  ex.noteReason("no valid storage credentials");
                  ex.addHeader("Retry-After", "5");
                  ex.replyError(503, "storage_credentials_unavailable",
                                "the gateway has no valid storage credentials right now; retry shortly");
                  return;
                }
                relayFromSources(ex, ctx, field, value, served, key, hint);
              });
            });
        return;
      }
      if (delivery.redirect) return redirectOrStream(ex, *ctx, record, hint, delivery, stream);
      stream(ex);
    });
  };
  ctx->resolve(field, value, std::move(done), std::move(mongoAdmission));
}

}  // namespace

void registerRecordingRoutes(reactor::HttpServer& server, std::shared_ptr<RecordingsContext> context) {
  server.metrics().describe("recgw_public_link_refusals_total", reactor::Metrics::Type::kCounter,
                            "Public links answered 410/503 from the call's state, by reason");
  server.route(reactor::kGet | reactor::kHead, "/api/v1/public/recordings/{token}", "public_recording",
               [context](reactor::HttpExchange& ex) {
                 streamCall(ex, context, storage::LookupField::kToken, ex.pathParams()[0]);
               });
  // Declines rooms recording ids, whichever route is added first: GET /api/v1/recordings/{id}
  // of the lifecycle routes takes exactly those (rule in handlers/lifecycle.h).
  server.route(
      reactor::kGet | reactor::kHead, "/api/v1/recordings/{session_id}", "admin_recording",
      [context](reactor::HttpExchange& ex) {
        if (!requireAdmin(ex, context->jwt)) return;
        streamCall(ex, context, storage::LookupField::kSessionId, ex.pathParams()[0]);
      },
      [](const std::vector<std::string>& params) { return !storage::hasRecordingIdPrefix(params[0]); });
}

}  // namespace recgw::handlers
