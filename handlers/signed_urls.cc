#include "handlers/signed_urls.h"

#include <simdjson.h>

#include "reactor/json_writer.h"
#include "reactor/logger.h"
#include "storage/presigner.h"
#include "storage/s3_addressing.h"

namespace recgw::handlers {

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

struct SignedOutcome {
  enum class Kind { kPresigned, kGatewayLink, kStorageMissing, kNoStorage, kStorageError };
  Kind kind = Kind::kStorageError;
  std::string url;
  std::chrono::system_clock::time_point expiresAt;
  std::string detail;
};

// Finds the call (uncached: this route needs the status and token as they are now).
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

// HEAD the object in storage; presign if it is there, else fall back to the public link.
void signOrFallBack(std::shared_ptr<SignedUrlContext> ctx, const CallRecord& call, int64_t expiresSeconds,
                    std::function<void(SignedOutcome)> done) {
  StorageSigner& signer = *ctx->recordings->signer;
  storage::SigV4Signer* sig = signer.get();
  auto gatewayLink = [ctx, call, expiresSeconds](SignedOutcome::Kind missingKind, std::string detail) {
    SignedOutcome out;
    if (!call.accessToken.empty()) {
      out.kind = SignedOutcome::Kind::kGatewayLink;
      out.url = storage::buildPublicRecordingUrl(ctx->publicBaseUrl, call.accessToken);
      out.expiresAt = std::chrono::system_clock::now() + std::chrono::seconds(expiresSeconds);
    } else {
      out.kind = missingKind;
    }
    out.detail = std::move(detail);
    return out;
  };
  if (!sig) {
    bool fleet = !signer.settings().values.fleetUrls.empty();
    done(fleet ? gatewayLink(SignedOutcome::Kind::kNoStorage, "storage not configured")
               : SignedOutcome{SignedOutcome::Kind::kNoStorage, "", {}, signer.settings().describeMissing()});
    return;
  }
  fleet::SourceChain chain = makeSourceChain(*ctx->recordings, call.key);
  reactor::UpstreamRequest head = chain.request(0, {}, /*headOnly=*/true);
  auto status = std::make_shared<long>(0);
  reactor::TransferCallbacks cb;
  cb.onHeaders = [status](const reactor::UpstreamResponse& r) {
    *status = r.status;
    return true;
  };
  cb.onData = [](const char*, size_t n) { return n; };
  std::string key = call.key;
  cb.onDone = [ctx, status, key, expiresSeconds, done, gatewayLink](const std::string& error) {
    if (*status == 200) {
      storage::SigV4Signer* s = ctx->recordings->signer->get();
      if (!s) return done(SignedOutcome{SignedOutcome::Kind::kNoStorage, "", {}, "storage settings changed"});
      auto now = std::chrono::system_clock::now();
      storage::ObjectTarget target =
          storage::objectTarget(ctx->recordings->signer->settings().location(), key);
      storage::PresignedUrl url = s->presign("GET", target, expiresSeconds, now);
      if (!url.ok()) return done(SignedOutcome{SignedOutcome::Kind::kStorageError, "", {}, url.error});
      return done(SignedOutcome{SignedOutcome::Kind::kPresigned, url.url,
                                now + std::chrono::seconds(expiresSeconds), ""});
    }
    if (*status == 404) {
      // The gateway's link only helps if a fleet host may still hold the object.
      bool fleet = !ctx->recordings->signer->settings().values.fleetUrls.empty();
      if (!fleet) return done(SignedOutcome{SignedOutcome::Kind::kStorageMissing, "", {}, "not in storage"});
      return done(gatewayLink(SignedOutcome::Kind::kStorageMissing, "not in storage"));
    }
    std::string detail = error.empty() ? "storage answered HTTP " + std::to_string(*status) : error;
    done(SignedOutcome{SignedOutcome::Kind::kStorageError, "", {}, detail});
  };
  if (ctx->curl->start(head, std::move(cb)) == 0) {
    done(SignedOutcome{SignedOutcome::Kind::kStorageError, "", {}, ctx->curl->lastError()});
  }
}

std::string basename(const std::string& key) {
  size_t slash = key.rfind('/');
  return slash == std::string::npos ? key : key.substr(slash + 1);
}

void handleCompatSignedUrl(reactor::HttpExchange& ex, std::shared_ptr<SignedUrlContext> ctx) {
  auto claims = requireToken(ex, ctx->recordings->jwt);
  if (!claims) return;
  simdjson::dom::parser parser;
  simdjson::padded_string padded(ex.body());
  simdjson::dom::element doc;
  simdjson::dom::object obj;
  if (parser.parse(padded).get(doc) || doc.get_object().get(obj)) {
    return ex.reply(
        422, validationErrorBody({"body"}, "Input should be a valid JSON object", "model_attributes_type"));
  }
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
  reactor::HttpServer* srv = &ex.server();
  uint64_t id = ex.id();
  JwtClaims who = *claims;
  loadCall(*ctx, sessionId, [ctx, srv, id, minutes, who](CallRecord call) {
    reactor::HttpExchange* ex = srv->find(id);
    if (!ex) return;
    if (call.outcome == CallRecord::Outcome::kUnavailable) {
      ex->addHeader("Retry-After", "5");
      return ex->replyError(503, "lookup_unavailable", "the recording index is unavailable; retry shortly");
    }
    bool visible = who.isPlatformAdmin() || (!who.accountId.empty() && who.accountId == call.accountId);
    if (call.outcome != CallRecord::Outcome::kFound || !visible) {
      return ex->replyError(404, "not_found", "no recording for this call");
    }
    signOrFallBack(ctx, call, minutes * 60, [srv, id, minutes, call](SignedOutcome out) {
      reactor::HttpExchange* ex = srv->find(id);
      if (!ex) return;
      using K = SignedOutcome::Kind;
      if (out.kind == K::kStorageMissing)
        return ex->replyError(404, "not_found", "no recording for this call");
      if (out.kind == K::kNoStorage) {
        return ex->replyError(503, "storage_not_configured", "storage is not configured: " + out.detail);
      }
      if (out.kind == K::kStorageError) {
        reactor::Logger::log(reactor::LogLevel::kWarn, ex->requestId(), "storage check failed",
                             {{"detail", out.detail}});
        ex->addHeader("Retry-After", "5");
        return ex->replyError(503, "storage_unavailable", "storage could not be reached; retry shortly");
      }
      reactor::JsonWriter w;
      w.beginObject()
          .field("file_name", basename(call.key))
          .field("signed_url", out.url)
          .field("expiration_minutes", minutes)
          .field("expires_at", storage::formatRfc3339Utc(out.expiresAt))
          .field("url_kind", out.kind == K::kPresigned ? "storage_presigned" : "gateway_public_link")
          .endObject();
      ex->reply(200, w.str());
    });
  });
}

void handleSessionRecording(reactor::HttpExchange& ex, std::shared_ptr<SignedUrlContext> ctx) {
  const char* account = ex.header("X-Account-ID");
  if (!account || !*account) return ex.replyError(400, "bad_request", "the X-Account-ID header is required");
  auto claims = requireToken(ex, ctx->recordings->jwt);
  if (!claims) return;
  std::string accountId = account;
  if (!claims->isPlatformAdmin() && claims->accountId != accountId) {
    return ex.replyError(403, "forbidden", "X-Account-ID does not match the token's account");
  }
  const std::string& sessionId = ex.pathParams()[0];
  if (!isSafePathParam(sessionId)) return ex.replyError(404, "not_found", "recording not found");
  reactor::HttpServer* srv = &ex.server();
  uint64_t id = ex.id();
  loadCall(*ctx, sessionId, [ctx, srv, id, accountId](CallRecord call) {
    reactor::HttpExchange* ex = srv->find(id);
    if (!ex) return;
    if (call.outcome == CallRecord::Outcome::kUnavailable) {
      reactor::Logger::log(reactor::LogLevel::kError, ex->requestId(), "call lookup failed",
                           {{"error", call.error}});
      return ex->replyError(500, "internal", "the recording index failed");
    }
    if (call.outcome == CallRecord::Outcome::kNoCall || call.accountId != accountId) {
      return ex->replyError(404, "not_found", "recording not found");
    }
    if (call.recordingStatus == "pending" || call.recordingStatus == "uploading") {
      return ex->replyError(409, "not_ready",
                            "the recording is not uploaded yet (" + call.recordingStatus + ")");
    }
    if (call.outcome == CallRecord::Outcome::kNoKey || call.recordingStatus == "failed") {
      return ex->replyError(404, "not_found", "recording not found");
    }
    signOrFallBack(ctx, call, 300, [srv, id](SignedOutcome out) {
      reactor::HttpExchange* ex = srv->find(id);
      if (!ex) return;
      using K = SignedOutcome::Kind;
      if (out.kind == K::kStorageMissing) return ex->replyError(404, "not_found", "recording not found");
      if (out.kind == K::kNoStorage) {
        return ex->replyError(503, "storage_not_configured", "storage is not configured: " + out.detail);
      }
      if (out.kind == K::kStorageError) {
        reactor::Logger::log(reactor::LogLevel::kError, ex->requestId(), "storage check failed",
                             {{"detail", out.detail}});
        return ex->replyError(500, "internal", "storage check failed");
      }
      reactor::JsonWriter w;
      w.beginObject()
          .field("url", out.url)
          .field("expires_at", storage::formatRfc3339Utc(out.expiresAt))
          .field("expires_in", 300)
          .field("url_kind", out.kind == K::kPresigned ? "storage_presigned" : "gateway_public_link")
          .endObject();
      ex->reply(200, w.str());
    });
  });
}

void handleMintToken(reactor::HttpExchange& ex, std::shared_ptr<SignedUrlContext> ctx) {
  if (!requireAdmin(ex, ctx->recordings->jwt)) return;
  const std::string& sessionId = ex.pathParams()[0];
  if (!isSafePathParam(sessionId)) return ex.replyError(404, "not_found", "no such call");
  std::string token = storage::mintToken();
  reactor::HttpServer* srv = &ex.server();
  uint64_t id = ex.id();
  std::string database = ctx->mongo->databaseName();
  std::string collection = ctx->callsCollection;
  bool queued = ctx->mongo->run([=](mongoc_client_t* client) {
    std::string previous, error;
    bool ok = storage::CallStore::rotateTokenBlocking(client, database, collection, sessionId, token,
                                                      previous, error);
    return reactor::WorkerPool::Completion([=] {
      reactor::HttpExchange* ex = srv->find(id);
      if (!ok) {
        if (!ex) return;
        if (!error.empty()) {
          ex->addHeader("Retry-After", "5");
          return ex->replyError(503, "mongo_unavailable", "MongoDB could not store the token");
        }
        return ex->replyError(404, "not_found", "no such call");
      }
      // The old link must stop working: drop it here and in Redis (other workers' L1
      // entries expire within their TTL), and the session's cached record too.
      if (!previous.empty()) ctx->cache->evict(storage::LookupField::kToken, previous);
      ctx->cache->evict(storage::LookupField::kSessionId, sessionId);
      if (!ex) return;
      reactor::JsonWriter w;
      w.beginObject()
          .field("session_id", sessionId)
          .field("token", token)
          .field("url", storage::buildPublicRecordingUrl(ctx->publicBaseUrl, token))
          .field("rotated", !previous.empty())
          .endObject();
      ex->reply(200, w.str());
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
  server.route(reactor::kPost, "/api/v1/admin/recordings/{session_id}/token", "admin_mint_token",
               [ctx](reactor::HttpExchange& ex) { handleMintToken(ex, ctx); });
}

}  // namespace recgw::handlers
