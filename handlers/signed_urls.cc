#include "handlers/signed_urls.h"

#include <simdjson.h>

#include <algorithm>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "handlers/object_serving.h"
#include "reactor/json_reader.h"
#include "reactor/exchange_ref.h"
#include "reactor/json_writer.h"
#include "reactor/logger.h"
#include "storage/bson_fields.h"
#include "storage/presigner.h"
#include "storage/iso_time.h"
#include "storage/public_link.h"
#include "storage/recording_token.h"
#include "storage/s3_addressing.h"

namespace recgw::handlers {

MintRequest parseMintRequest(std::string_view body, int64_t nowMs) {
  MintRequest out;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return out;
  simdjson::dom::parser parser;
  auto parsed = reactor::parseJsonObject(parser, body);
  if (!parsed) {
    out.error = "the body must be a JSON object (or empty)";
    return out;
  }
  simdjson::dom::object obj = *parsed;
  auto in = obj["expires_in_s"];
  auto at = obj["expires_at"];
  bool hasIn = in.error() != simdjson::NO_SUCH_FIELD;
  bool hasAt = at.error() != simdjson::NO_SUCH_FIELD;
  if (hasIn && hasAt) {
    out.error = "give expires_in_s or expires_at, not both";
    return out;
  }
  if (hasIn) {
    int64_t seconds = 0;
    if (in.get_int64().get(seconds) || seconds < 1 || seconds > kMaxLinkLifetimeS) {
      out.error = "expires_in_s must be an integer from 1 to " + std::to_string(kMaxLinkLifetimeS);
      return out;
    }
    out.expiresAtMs = nowMs + seconds * 1000;
  } else if (hasAt) {
    std::string_view text;
    std::optional<std::chrono::system_clock::time_point> instant;
    if (!at.get_string().get(text)) instant = storage::parseIsoInstant(text);
    if (!instant) {
      out.error = "expires_at must be an ISO 8601 instant (e.g. 2026-05-01T10:00:00Z)";
      return out;
    }
    int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(instant->time_since_epoch()).count();
    if (ms <= nowMs) {
      out.error = "expires_at must be in the future";
      return out;
    }
    if (ms - nowMs > kMaxLinkLifetimeS * 1000) {
      out.error = "expires_at must be within " + std::to_string(kMaxLinkLifetimeS) + " seconds";
      return out;
    }
    out.expiresAtMs = ms;
  }
  return out;
}

std::string validationErrorBody(const std::vector<std::string>& loc, std::string_view msg,
                                std::string_view type) {
  reactor::JsonWriter w;
  w.beginObject().key("detail").beginArray().beginObject().key("loc").beginArray();
  for (const auto& l : loc) w.value(l);
  w.endArray().field("msg", msg).field("type", type).endObject().endArray().endObject();
  return w.take();
}

namespace {

using storage::CallRecord;

// ---- where is the object? ------------------------------------------------------------------

struct Location {
  enum class Where { kStorage, kFleet, kNowhere, kNoSources, kUnavailable };
  Where where = Where::kUnavailable;
  std::string detail;  // why it was not found (logs only)
};

// Sources that failed while one request was being answered: calls started after that count
// them as failing without asking, so a dead host costs at most `locateConcurrency` timeouts
// per accessible-urls request rather than one per call.
using FailedSources = std::unordered_set<std::string>;

// Asks storage (signed HEAD), then each fleet host (HEAD with the fleet secret; GET cut after
// the headers when a host refuses HEAD with 405/501), in the source chain's order. The first
// 200 wins; a 404 moves on; anything else is a failing source.
class Locator : public std::enable_shared_from_this<Locator> {
 public:
  Locator(std::shared_ptr<SignedUrlContext> ctx, fleet::SourceChain chain,
          std::shared_ptr<FailedSources> failed, std::function<void(Location)> done)
      : ctx_(std::move(ctx)), chain_(std::move(chain)), failed_(std::move(failed)), done_(std::move(done)) {}

  // Storage, when present, is source 0 and is signed here, on the pass the chain was built
  // (the chain's signer pointer is only valid then); fleet requests carry no signature.
  void start() { ask(0, false); }

 private:
  void ask(size_t index, bool asGet) {
    const auto& sources = chain_.sources();
    if (index >= sources.size()) {
      Location out;
      out.where = anyFailed_ ? Location::Where::kUnavailable : Location::Where::kNowhere;
      out.detail = anyFailed_ ? detail_ : "no source has the object";
      return done_(out);
    }
    const fleet::Source& source = sources[index];
    if (failed_ && failed_->count(source.label)) return fail(index, source.label + " failed earlier");
    bool storage = source.kind == fleet::Source::Kind::kStorage;
    reactor::UpstreamRequest req = chain_.request(index, {}, /*headOnly=*/storage);
    if (!storage) req.headOnly = !asGet;
    auto status = std::make_shared<long>(0);
    reactor::TransferCallbacks cb;
    cb.onHeaders = [status](const reactor::UpstreamResponse& r) {
      *status = r.status;
      return true;
    };
    // Only the status matters: stop at the first body byte (a GET fallback's body).
    cb.onData = [](const char*, size_t) -> size_t { return 0; };
    auto self = shared_from_this();
    cb.onDone = [self, index, asGet, status](const std::string& error) {
      self->answered(index, asGet, *status, error);
    };
    if (auto started = ctx_->curl->start(req, std::move(cb)); !started)
      fail(index, source.label + ": " + started.error().message);
  }

  void answered(size_t index, bool asGet, long status, const std::string& error) {
    const fleet::Source& source = chain_.sources()[index];
    if (status == 200) {
      Location out;
      out.where =
          source.kind == fleet::Source::Kind::kStorage ? Location::Where::kStorage : Location::Where::kFleet;
      return done_(out);
    }
    if (status == 404) return ask(index + 1, false);
    if (source.kind == fleet::Source::Kind::kFleet && !asGet && (status == 405 || status == 501))
      return ask(index, true);
    fail(index, source.label + (status ? " answered HTTP " + std::to_string(status) : ": " + error));
  }

  void fail(size_t index, std::string detail) {
    anyFailed_ = true;
    if (failed_) failed_->insert(chain_.sources()[index].label);
    if (!detail_.empty()) detail_ += "; ";
    detail_ += detail;
    ask(index + 1, false);
  }

  std::shared_ptr<SignedUrlContext> ctx_;
  fleet::SourceChain chain_;
  std::shared_ptr<FailedSources> failed_;
  std::function<void(Location)> done_;
  bool anyFailed_ = false;
  std::string detail_;
};

// ---- a URL for a call ----------------------------------------------------------------------

struct SignedOutcome {
  enum class Kind { kPresigned, kGatewayLink, kNowhere, kFleetOnlyNoToken, kNoSources, kUnavailable };
  Kind kind = Kind::kUnavailable;
  std::string url;
  std::chrono::system_clock::time_point expiresAt;
  std::string detail;  // logs only
};

// A presigned URL when storage has the object; the gateway's public link when only a fleet
// host has it (and the call has a token to build it from); otherwise why not.
void signOrLink(const std::shared_ptr<SignedUrlContext>& ctx, const CallRecord& call, int64_t expiresSeconds,
                std::shared_ptr<FailedSources> failed, std::function<void(SignedOutcome)> done) {
  if (ctx->recordings->signer->credentialsUnavailable()) {
    // Wait for a fetch in flight (start-up); otherwise never a URL signed with expired
    // credentials, and never "not found": storage is configured, it just cannot be signed
    // for right now.
    ctx->recordings->signer->provider()->waitForCredentials(
        [ctx, call, expiresSeconds, failed, done](bool ok) {
          if (!ok || ctx->recordings->signer->credentialsUnavailable()) {
            return done(SignedOutcome{SignedOutcome::Kind::kUnavailable,
                                      "",
                                      {},
                                      "storage_credentials_unavailable: no valid storage credentials"});
          }
          signOrLink(ctx, call, expiresSeconds, failed, done);
        });
    return;
  }
  fleet::SourceChain chain = makeSourceChain(*ctx->recordings, call.key);
  if (chain.sources().empty()) {
    return done(SignedOutcome{SignedOutcome::Kind::kNoSources,
                              "",
                              {},
                              ctx->recordings->signer->settings().describeMissing() + "; no fleet hosts"});
  }
  std::string key = call.key;
  std::string token = call.accessToken;
  auto locator = std::make_shared<Locator>(
      ctx, std::move(chain), std::move(failed), [ctx, key, token, expiresSeconds, done](Location where) {
        using K = SignedOutcome::Kind;
        auto now = std::chrono::system_clock::now();
        switch (where.where) {
          case Location::Where::kStorage: {
            storage::SigV4Signer* signer = ctx->recordings->signer->get();
            if (!signer) return done(SignedOutcome{K::kUnavailable, "", {}, "storage settings changed"});
            storage::ObjectTarget target =
                storage::objectTarget(ctx->recordings->signer->settings().location(), key);
            storage::PresignedUrl url = signer->presign("GET", target, expiresSeconds, now);
            if (!url.ok()) return done(SignedOutcome{K::kUnavailable, "", {}, url.error});
            return done(
                SignedOutcome{K::kPresigned, url.url, now + std::chrono::seconds(expiresSeconds), ""});
          }
          case Location::Where::kFleet:
            if (token.empty())
              return done(SignedOutcome{K::kFleetOnlyNoToken, "", {}, "only on a fleet host"});
            return done(SignedOutcome{K::kGatewayLink,
                                      storage::buildPublicRecordingUrl(ctx->publicBaseUrl, token),
                                      now + std::chrono::seconds(expiresSeconds), ""});
          case Location::Where::kNowhere:
            return done(SignedOutcome{K::kNowhere, "", {}, where.detail});
          case Location::Where::kNoSources:
            return done(SignedOutcome{K::kNoSources, "", {}, where.detail});
          case Location::Where::kUnavailable:
            return done(SignedOutcome{K::kUnavailable, "", {}, where.detail});
        }
      });
  locator->start();
}

const char* urlKindName(SignedOutcome::Kind kind) {
  return kind == SignedOutcome::Kind::kPresigned ? "storage_presigned" : "gateway_public_link";
}

// Finds the call (uncached: these routes need the status and token as they are now).
void loadCall(SignedUrlContext& ctx, const std::string& sessionId, std::function<void(CallRecord)> done) {
  std::string database = ctx.mongo->databaseName();
  std::string collection = ctx.callsCollection;
  bool queued = ctx.mongo->run([database, collection, sessionId, done](mongoc_client_t* client) mutable {
    CallRecord record = storage::CallStore::findBlocking(client, database, collection,
                                                         storage::LookupField::kSessionId, sessionId);
    return reactor::WorkerPool::Completion(
        [done = std::move(done), record = std::move(record)] { done(record); });
  });
  if (!queued) {
    CallRecord busy;
    busy.error = "MongoDB queue is full";
    done(busy);
  }
}

std::string basename(const std::string& key) {
  size_t slash = key.rfind('/');
  return slash == std::string::npos ? key : key.substr(slash + 1);
}

// ---- POST /v1/call-recording/signed-url ------------------------------------------------------

void replyAuthFailure(reactor::HttpExchange& ex, const TenantAuthFailure& f) {
  if (!f.wwwAuthenticate.empty()) ex.addHeader("WWW-Authenticate", f.wwwAuthenticate);
  if (f.status == 503) ex.addHeader("Retry-After", "5");
  ex.replyError(f.status, f.code, f.message);
}

void answerCompatSignedUrl(reactor::HttpExchange& ex, std::shared_ptr<SignedUrlContext> ctx,
                           TenantPrincipal who) {
  simdjson::dom::parser parser;
  auto parsed = reactor::parseJsonObject(parser, ex.body());
  if (!parsed) {
    return ex.reply(
        422, validationErrorBody({"body"}, "Input should be a valid JSON object", "model_attributes_type"));
  }
  simdjson::dom::object obj = *parsed;
  std::string_view callId;
  auto idField = obj["call_id"];
  if (idField.error() == simdjson::NO_SUCH_FIELD) {
    return ex.reply(422, validationErrorBody({"body", "call_id"}, "Field required", "missing"));
  }
  if (idField.get_string().get(callId) || callId.empty()) {
    return ex.reply(
        422, validationErrorBody({"body", "call_id"}, "Input should be a valid string", "string_type"));
  }
  int64_t minutes = 10;
  auto minutesField = obj["expiration_url_in_minutes"];
  if (minutesField.error() != simdjson::NO_SUCH_FIELD) {
    if (minutesField.get_int64().get(minutes)) {
      return ex.reply(422, validationErrorBody({"body", "expiration_url_in_minutes"},
                                               "Input should be a valid integer", "int_parsing"));
    }
    if (minutes < 1 || minutes > storage::kMaxTemporaryUrlMinutes) {
      return ex.reply(422, validationErrorBody({"body", "expiration_url_in_minutes"},
                                               "Input should be between 1 and 10080", "less_than_equal"));
    }
  }
  std::string sessionId(callId);
  if (!isSafePathParam(sessionId)) return ex.replyError(404, "not_found", "recording not found");
  reactor::ExchangeRef request(ex);
  loadCall(*ctx, sessionId, [ctx, request, minutes, who](CallRecord call) {
    request.with([&](reactor::HttpExchange& ex) {
      if (call.outcome == CallRecord::Outcome::kUnavailable) {
        ex.addHeader("Retry-After", "5");
        return ex.replyError(503, "lookup_unavailable", "the recording index is unavailable; retry shortly");
      }
      if (call.outcome != CallRecord::Outcome::kFound || !who.mayActFor(call.accountId)) {
        return ex.replyError(404, "not_found", "no recording for this call");
      }
      signOrLink(ctx, call, minutes * 60, nullptr, [request, minutes, call](SignedOutcome out) {
        request.with([&](reactor::HttpExchange& ex) {
          using K = SignedOutcome::Kind;
          switch (out.kind) {
            case K::kNowhere:
            case K::kFleetOnlyNoToken:
              ex.noteReason(out.detail);
              return ex.replyError(404, "not_found", "no recording for this call");
            case K::kNoSources:
              ex.noteReason(out.detail);  // which settings are missing: for the log, not the tenant
              return ex.replyError(503, "storage_not_configured", "storage is not configured");
            case K::kUnavailable:
              reactor::Logger::log(reactor::LogLevel::kWarn, ex.requestId(), "recording sources failed",
                                   {{"detail", out.detail}});
              ex.addHeader("Retry-After", "5");
              return ex.replyError(503, "storage_unavailable",
                                   "a recording source could not be reached; retry shortly");
            case K::kPresigned:
            case K::kGatewayLink:
              break;
          }
          reactor::JsonWriter w;
          w.beginObject()
              .field("file_name", basename(call.key))
              .field("signed_url", out.url)
              .field("expiration_minutes", minutes)
              .field("expires_at", storage::formatRfc3339Utc(out.expiresAt))
              .field("url_kind", urlKindName(out.kind))
              .endObject();
          ex.reply(200, w.str());
        });
      });
    });
  });
}

void handleCompatSignedUrl(reactor::HttpExchange& ex, std::shared_ptr<SignedUrlContext> ctx) {
  authenticateTenant(
      ex, ctx->recordings->jwt, ctx->apiKeys,
      [ctx](reactor::HttpExchange& ex, const TenantAuth& auth) {
        if (!auth.principal) return replyAuthFailure(ex, auth.failure);
        answerCompatSignedUrl(ex, ctx, *auth.principal);
      },
      ctx->recordings->limiter, ctx->recordings->trustedProxies);
}

// ---- GET /api/v1/sessions/{id}/recording (and /v1/sessions/{id}/recording) ---------------------

// This API's error bodies are JSON strings.
void replyStringError(reactor::HttpExchange& ex, int status, std::string_view message) {
  std::string body;
  reactor::appendJsonString(body, message);
  ex.reply(status, body);
}

constexpr int64_t kSessionUrlSeconds = 300;

void answerSessionRecording(reactor::HttpExchange& ex, std::shared_ptr<SignedUrlContext> ctx,
                            const TenantPrincipal& who, const std::string& accountId) {
  // Another account's id is answered like a missing recording: existence does not leak.
  if (!who.mayActFor(accountId)) return replyStringError(ex, 404, "No recording for this session");
  const std::string& sessionId = ex.pathParams()[0];
  if (!isSafePathParam(sessionId)) return replyStringError(ex, 404, "No recording for this session");
  reactor::ExchangeRef request(ex);
  loadCall(*ctx, sessionId, [ctx, request, accountId](CallRecord call) {
    request.with([&](reactor::HttpExchange& ex) {
      if (call.outcome == CallRecord::Outcome::kUnavailable) {
        reactor::Logger::log(reactor::LogLevel::kError, ex.requestId(), "call lookup failed",
                             {{"error", call.error}});
        return replyStringError(ex, 500, "Internal error");
      }
      if (call.outcome == CallRecord::Outcome::kNoCall || call.accountId != accountId) {
        return replyStringError(ex, 404, "No recording for this session");
      }
      if (call.recordingStatus == "pending" || call.recordingStatus == "uploading") {
        return replyStringError(ex, 409, "Recording not ready (" + call.recordingStatus + ")");
      }
      if (call.outcome == CallRecord::Outcome::kNoKey || call.recordingStatus == "failed") {
        return replyStringError(ex, 404, "No recording for this session");
      }
      signOrLink(ctx, call, kSessionUrlSeconds, nullptr, [request](SignedOutcome out) {
        request.with([&](reactor::HttpExchange& ex) {
          using K = SignedOutcome::Kind;
          switch (out.kind) {
            case K::kNowhere:
            case K::kFleetOnlyNoToken:
              ex.noteReason(out.detail);
              return replyStringError(ex, 404, "No recording for this session");
            case K::kNoSources:
              ex.noteReason(out.detail);
              return replyStringError(ex, 503, "Recording playback not configured");
            case K::kUnavailable:
              reactor::Logger::log(reactor::LogLevel::kError, ex.requestId(), "recording sources failed",
                                   {{"detail", out.detail}});
              return replyStringError(ex, 500, "Internal error");
            case K::kPresigned:
            case K::kGatewayLink:
              break;
          }
          reactor::JsonWriter w;
          w.beginObject()
              .field("url", out.url)
              .field("expires_at", storage::formatRfc3339Utc(out.expiresAt))
              .field("expires_in", kSessionUrlSeconds)
              .field("url_kind", urlKindName(out.kind))
              .endObject();
          ex.reply(200, w.str());
        });
      });
    });
  });
}

void handleSessionRecording(reactor::HttpExchange& ex, std::shared_ptr<SignedUrlContext> ctx) {
  const char* account = ex.header("X-Account-ID");
  if (!account || !*account) return replyStringError(ex, 400, "Missing X-Account-ID header");
  std::string accountId = account;
  authenticateTenant(
      ex, ctx->recordings->jwt, ctx->apiKeys,
      [ctx, accountId](reactor::HttpExchange& ex, const TenantAuth& auth) {
        if (!auth.principal) {
          const TenantAuthFailure& f = auth.failure;
          if (!f.wwwAuthenticate.empty()) ex.addHeader("WWW-Authenticate", f.wwwAuthenticate);
          // This API documents 500 for its own failures, 503 only for "not configured".
          if (f.status == 401) return replyStringError(ex, 401, "Unauthorized: " + f.message);
          if (f.status == 429) return replyStringError(ex, 429, "Too many requests: " + f.message);
          return replyStringError(ex, 500, "Internal error");
        }
        answerSessionRecording(ex, ctx, *auth.principal, accountId);
      },
      ctx->recordings->limiter, ctx->recordings->trustedProxies);
}

// ---- POST /api/v1/admin/calls/accessible-urls --------------------------------------------------

struct AccessibleUrl {
  std::string sessionId;
  std::string url;      // empty: none
  std::string urlKind;  // "presigned", "gateway_public_link", or empty (null)
  std::optional<std::chrono::system_clock::time_point> expiresAt;
  std::string reason;  // why there is no URL; empty when there is one
};

struct AccessibleUrlsRequest {
  std::vector<std::string> sessionIds;  // de-duplicated, in the order given
  int64_t expiresSeconds = 3600;
  std::string error;
};

AccessibleUrlsRequest parseAccessibleUrlsRequest(std::string_view body) {
  AccessibleUrlsRequest req;
  simdjson::dom::parser parser;
  auto parsed = reactor::parseJsonObject(parser, body);
  if (!parsed) {
    req.error = "the body must be a JSON object";
    return req;
  }
  simdjson::dom::object obj = *parsed;
  simdjson::dom::array list;
  auto ids = obj["session_ids"];
  if (ids.error() == simdjson::NO_SUCH_FIELD) {
    req.error = "session_ids is required";
    return req;
  }
  if (ids.get_array().get(list)) {
    req.error = "session_ids must be an array of strings";
    return req;
  }
  std::unordered_set<std::string_view> seen;
  for (auto item : list) {
    std::string_view v;
    if (item.get_string().get(v) || v.empty() || v.size() > 256) {
      req.error = "session_ids must hold non-empty strings of at most 256 bytes";
      return req;
    }
    if (seen.size() >= kMaxAccessibleUrlIds && !seen.count(v)) {
      req.error = "at most " + std::to_string(kMaxAccessibleUrlIds) + " session ids per request";
      return req;
    }
    if (seen.insert(v).second) req.sessionIds.emplace_back(v);
  }
  auto expires = obj["expires_in"];
  if (expires.error() != simdjson::NO_SUCH_FIELD) {
    if (expires.get_int64().get(req.expiresSeconds) || req.expiresSeconds < 1 ||
        req.expiresSeconds > storage::kMaxPresignExpirySeconds) {
      req.error =
          "expires_in must be an integer from 1 to " + std::to_string(storage::kMaxPresignExpirySeconds);
      return req;
    }
  }
  return req;
}

// Asks the sources of at most `locateConcurrency` calls at a time and answers once all are
// known. A client that leaves stops the batch: no further call is started.
struct AccessibleUrlBatch : std::enable_shared_from_this<AccessibleUrlBatch> {
  std::shared_ptr<SignedUrlContext> ctx;
  reactor::ExchangeRef request;
  int64_t expiresSeconds = 3600;
  std::vector<AccessibleUrl> results;
  std::vector<std::pair<size_t, CallRecord>> toLocate;  // index into results, the call
  std::shared_ptr<FailedSources> failedSources = std::make_shared<FailedSources>();
  size_t next = 0;
  size_t inFlight = 0;
  bool finished = false;  // a source may answer synchronously: pump() can nest

  void pump() {
    if (!request.alive()) return;
    auto self = shared_from_this();
    while (inFlight < std::max<size_t>(1, ctx->locateConcurrency) && next < toLocate.size()) {
      auto& [index, call] = toLocate[next++];
      ++inFlight;
      size_t at = index;
      signOrLink(ctx, call, expiresSeconds, failedSources, [self, at](SignedOutcome out) {
        --self->inFlight;
        self->record(at, out);
        self->pump();
      });
    }
    if (inFlight == 0 && next == toLocate.size() && !finished) {
      finished = true;
      finish();
    }
  }

  void record(size_t at, const SignedOutcome& out) {
    AccessibleUrl& r = results[at];
    using K = SignedOutcome::Kind;
    switch (out.kind) {
      case K::kPresigned:
        r.url = out.url;
        r.urlKind = "presigned";
        r.expiresAt = out.expiresAt;
        return;
      case K::kGatewayLink:
        r.url = out.url;
        r.urlKind = "gateway_public_link";  // lives as long as the token: no expiry
        return;
      case K::kNowhere:
        r.reason = "not_found";
        return;
      case K::kFleetOnlyNoToken:
        r.reason = "no_public_token";
        return;
      case K::kNoSources:
        r.reason = "storage_not_configured";
        return;
      case K::kUnavailable:
        r.reason = "source_unavailable";
        return;
    }
  }

  void finish() {
    request.with([&](reactor::HttpExchange& ex) {
      if (!failedSources->empty()) {
        std::string labels;
        for (const auto& label : *failedSources) labels += (labels.empty() ? "" : ",") + label;
        reactor::Logger::log(reactor::LogLevel::kWarn, ex.requestId(), "recording sources failed",
                             {{"sources", labels}});
      }
      reactor::JsonWriter w;
      w.beginObject().key("results").beginArray();
      for (const auto& r : results) {
        w.beginObject().field("session_id", r.sessionId);
        w.key("url");
        r.url.empty() ? w.null() : w.value(r.url);
        w.key("url_kind");
        r.urlKind.empty() ? w.null() : w.value(r.urlKind);
        w.key("expires_at");
        r.expiresAt ? w.value(storage::formatRfc3339Utc(*r.expiresAt)) : w.null();
        w.key("reason");
        r.reason.empty() ? w.null() : w.value(r.reason);
        w.endObject();
      }
      w.endArray().endObject();
      ex.reply(200, w.str());
    });
  }
};

void handleAccessibleUrls(reactor::HttpExchange& ex, std::shared_ptr<SignedUrlContext> ctx) {
  if (!requireAdmin(ex, ctx->recordings->jwt)) return;
  AccessibleUrlsRequest req = parseAccessibleUrlsRequest(ex.body());
  if (!req.error.empty()) return ex.replyError(400, "bad_request", req.error);
  auto batch = std::make_shared<AccessibleUrlBatch>();
  batch->ctx = ctx;
  batch->request = reactor::ExchangeRef(ex);
  batch->expiresSeconds = req.expiresSeconds;
  std::vector<std::string> queryIds;
  for (const auto& sessionId : req.sessionIds) {
    AccessibleUrl r;
    r.sessionId = sessionId;
    if (!isSafePathParam(sessionId))
      r.reason = "invalid_session_id";
    else
      queryIds.push_back(sessionId);
    batch->results.push_back(std::move(r));
  }
  std::string database = ctx->mongo->databaseName();
  std::string collection = ctx->callsCollection;
  // One query for the whole batch (at most kMaxAccessibleUrlIds ids in one $in).
  bool queued = ctx->mongo->run([batch, database, collection, queryIds](mongoc_client_t* client) {
    storage::WarmBatch found = storage::CallStore::findManyBlocking(
        client, database, collection, storage::LookupField::kSessionId, queryIds, kMaxAccessibleUrlIds);
    return reactor::WorkerPool::Completion([batch, found = std::move(found)] {
      batch->request.with([&](reactor::HttpExchange& ex) {
        if (!found.error.empty()) {
          reactor::Logger::log(reactor::LogLevel::kWarn, ex.requestId(), "call lookup failed",
                               {{"error", found.error}});
          ex.addHeader("Retry-After", "5");
          return ex.replyError(503, "lookup_unavailable",
                               "the recording index is unavailable; retry shortly");
        }
        std::unordered_map<std::string, const CallRecord*> bySession;
        for (const auto& item : found.found) bySession.emplace(item.value, &item.record);
        for (size_t i = 0; i < batch->results.size(); ++i) {
          AccessibleUrl& r = batch->results[i];
          if (!r.reason.empty()) continue;
          auto it = bySession.find(r.sessionId);
          if (it == bySession.end()) {
            r.reason = "no_call";
            continue;
          }
          const CallRecord& call = *it->second;
          if (call.recordingStatus == "pending" || call.recordingStatus == "uploading") {
            r.reason = "not_ready";
          } else if (call.recordingStatus == "failed") {
            r.reason = "recording_failed";
          } else if (call.outcome != CallRecord::Outcome::kFound) {
            r.reason = "no_recording_key";
          } else {
            batch->toLocate.emplace_back(i, call);
          }
        }
        batch->pump();
      });
    });
  });
  if (!queued) {
    ex.addHeader("Retry-After", "5");
    ex.replyError(503, "busy", "the MongoDB queue is full");
  }
}

void handleMintToken(reactor::HttpExchange& ex, std::shared_ptr<SignedUrlContext> ctx) {
  if (!requireAdmin(ex, ctx->recordings->jwt)) return;
  const std::string& sessionId = ex.pathParams()[0];
  if (!isSafePathParam(sessionId)) return ex.replyError(404, "not_found", "no such call");
  MintRequest mint = parseMintRequest(ex.body(), storage::fields::toMillis(std::chrono::system_clock::now()));
  if (!mint.error.empty()) return ex.replyError(400, "bad_request", mint.error);
  std::string token = storage::mintToken();
  reactor::ExchangeRef request(ex);
  std::string database = ctx->mongo->databaseName();
  std::string collection = ctx->callsCollection;
  int64_t expiresAtMs = mint.expiresAtMs;
  bool queued = ctx->mongo->run([=](mongoc_client_t* client) {
    std::string previous, error;
    bool ok = storage::CallStore::rotateTokenBlocking(client, database, collection, sessionId, token,
                                                      previous, error, expiresAtMs);
    return reactor::WorkerPool::Completion([=] {
      if (!ok) {
        request.with([&](reactor::HttpExchange& ex) {
          if (!error.empty()) {
            ex.addHeader("Retry-After", "5");
            return ex.replyError(503, "mongo_unavailable", "MongoDB could not store the token");
          }
          ex.replyError(404, "not_found", "no such call");
        });
        return;
      }
      // The old link must stop working: drop it here and in Redis, and publish the eviction
      // so that every other worker drops it too (without Redis: within their L1 TTL); the
      // session's cached record as well.
      if (!previous.empty()) ctx->cache->evict(storage::LookupField::kToken, previous, {}, "rotate");
      ctx->cache->evict(storage::LookupField::kSessionId, sessionId, {}, "rotate");
      if (ObjectServer* objects = ctx->recordings ? ctx->recordings->objects : nullptr) {
        if (!previous.empty()) objects->dropAlias(storage::cacheKey(storage::LookupField::kToken, previous));
        objects->dropAlias(storage::cacheKey(storage::LookupField::kSessionId, sessionId));
      }
      request.with([&](reactor::HttpExchange& ex) {
        reactor::JsonWriter w;
        w.beginObject()
            .field("session_id", sessionId)
            .field("token", token)
            .field("url", storage::buildPublicRecordingUrl(ctx->publicBaseUrl, token))
            .field("rotated", !previous.empty());
        if (expiresAtMs > 0) w.field("expires_at", storage::formatIsoMillis(expiresAtMs));
        w.endObject();
        ex.reply(200, w.str());
      });
    });
  });
  if (!queued) {
    ex.addHeader("Retry-After", "5");
    ex.replyError(503, "busy", "the MongoDB queue is full");
  }
}

void handleRevokeToken(reactor::HttpExchange& ex, std::shared_ptr<SignedUrlContext> ctx) {
  if (!requireAdmin(ex, ctx->recordings->jwt)) return;
  const std::string& sessionId = ex.pathParams()[0];
  if (!isSafePathParam(sessionId)) return ex.replyError(404, "not_found", "no such call");
  reactor::ExchangeRef request(ex);
  std::string database = ctx->mongo->databaseName();
  std::string collection = ctx->callsCollection;
  std::string revokedCollection = ctx->revokedCollection;
  bool queued = ctx->mongo->run([=](mongoc_client_t* client) {
    std::string previous, storageKey, error;
    bool ok = storage::CallStore::revokeTokenBlocking(client, database, collection, revokedCollection,
                                                      sessionId, previous, storageKey, error);
    return reactor::WorkerPool::Completion([=] {
      if (!ok) {
        request.with([&](reactor::HttpExchange& ex) {
          if (!error.empty()) {
            reactor::Logger::log(reactor::LogLevel::kWarn, ex.requestId(), "token revocation failed",
                                 {{"error", error}});
            ex.addHeader("Retry-After", "5");
            return ex.replyError(503, "mongo_unavailable", "MongoDB could not revoke the token");
          }
          ex.replyError(404, "not_found", "no such call");
        });
        return;
      }
      if (!previous.empty()) {
        // Published to every worker of every gateway (they drop their L1 entry at once),
        // then cached as revoked here and in Redis, over the eviction's tombstone.
        ctx->cache->evict(storage::LookupField::kToken, previous, {}, "revoke", storageKey);
        storage::CallRecord revoked;
        revoked.outcome = storage::CallRecord::Outcome::kNoCall;
        revoked.linkRevoked = true;
        revoked.sessionId = sessionId;
        ctx->cache->store(storage::LookupField::kToken, previous, revoked);
      }
      ctx->cache->evict(storage::LookupField::kSessionId, sessionId, {}, "revoke", storageKey);
      request.with([&](reactor::HttpExchange& ex) {
        reactor::JsonWriter w;
        w.beginObject().field("session_id", sessionId).field("revoked", !previous.empty()).endObject();
        ex.reply(200, w.str());
      });
    });
  });
  if (!queued) {
    ex.addHeader("Retry-After", "5");
    ex.replyError(503, "busy", "the MongoDB queue is full");
  }
}

}  // namespace

void registerSignedUrlRoutes(reactor::HttpServer& server, std::shared_ptr<SignedUrlContext> ctx) {
  server.route(reactor::kPost, "/v1/call-recording/signed-url", "compat_signed_url",
               [ctx](reactor::HttpExchange& ex) { handleCompatSignedUrl(ex, ctx); });
  server.route(reactor::kGet, "/api/v1/sessions/{id}/recording", "session_recording_url",
               [ctx](reactor::HttpExchange& ex) { handleSessionRecording(ex, ctx); });
  // The path the API's own examples call.
  server.route(reactor::kGet, "/v1/sessions/{id}/recording", "session_recording_url",
               [ctx](reactor::HttpExchange& ex) { handleSessionRecording(ex, ctx); });
  server.route(reactor::kPost, "/api/v1/admin/recordings/{session_id}/token", "admin_mint_token",
               [ctx](reactor::HttpExchange& ex) { handleMintToken(ex, ctx); });
  server.route(reactor::kDelete, "/api/v1/admin/recordings/{session_id}/token", "admin_revoke_token",
               [ctx](reactor::HttpExchange& ex) { handleRevokeToken(ex, ctx); });
  server.route(reactor::kPost, "/api/v1/admin/calls/accessible-urls", "admin_accessible_urls",
               [ctx](reactor::HttpExchange& ex) { handleAccessibleUrls(ex, ctx); });
}

}  // namespace recgw::handlers
