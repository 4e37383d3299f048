#include "handlers/lifecycle.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "handlers/http_semantics.h"
#include "reactor/exchange_ref.h"
#include "reactor/logger.h"
#include "storage/s3_addressing.h"
#include "storage/uri_encoding.h"

namespace recgw::handlers {

using lifecycle::Caller;
using lifecycle::Outcome;
using lifecycle::Problem;
using storage::Recording;
using storage::RecordingStatus;
using Clock = std::chrono::system_clock;

// ---- pure helpers -------------------------------------------------------------------

Paging parsePaging(std::string_view query) {
  Paging p;
  bool seenLimit = false, seenOffset = false;
  auto parseInt = [](std::string_view text, int64_t& out) {
    if (text.empty() || text.size() > 18) return false;
    for (char c : text) {
      if (c < '0' || c > '9') return false;
    }
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && ptr == text.data() + text.size();
  };
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    size_t eq = part.find('=');
    std::string_view name = part.substr(0, eq);
    std::string_view raw = eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
    bool isLimit = name == "limit" && !seenLimit;
    bool isOffset = name == "offset" && !seenOffset;
    if (!isLimit && !isOffset) continue;
    auto decoded = storage::percentDecode(raw);
    int64_t v = 0;
    bool ok = decoded && parseInt(*decoded, v);
    if (isLimit) {
      seenLimit = true;
      if (!ok || v < 1) {
        p.error = "limit must be an integer from 1 to " + std::to_string(kMaxPageLimit);
        return p;
      }
      p.limit = std::min(v, kMaxPageLimit);
    } else {
      seenOffset = true;
      if (!ok) {
        p.error = "offset must be a non-negative integer";
        return p;
      }
      p.offset = v;
    }
  }
  return p;
}

TenantChoice chooseTenant(const JwtClaims& claims, const char* accountHeader) {
  TenantChoice t;
  std::string header = accountHeader ? accountHeader : "";
  if (!header.empty()) {
    if (claims.isPlatformAdmin() || header == claims.accountId) {
      t.tenant = header;
      return t;
    }
    return {{}, 403, "forbidden", "X-Account-ID does not match the token's account"};
  }
  if (!claims.accountId.empty()) {
    t.tenant = claims.accountId;
    return t;
  }
  if (claims.isPlatformAdmin())
    return {{}, 400, "bad_request", "a platform admin token without an account must send X-Account-ID"};
  return {{}, 403, "forbidden", "the token carries no account"};
}

std::optional<int64_t> wholeSeconds(std::optional<double> seconds) {
  // Past 2^53 a double no longer holds every whole number; no recording lasts that long.
  constexpr double kLargest = 9007199254740992.0;
  if (!seconds || !std::isfinite(*seconds) || *seconds < 0 || *seconds >= kLargest) return std::nullopt;
  return static_cast<int64_t>(std::llround(*seconds));
}

std::string formatInstant(Clock::time_point t) {
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  int millis = static_cast<int>(ms - secs * 1000);
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

void writeRecording(reactor::JsonWriter& w, const Recording& r,
                    const std::optional<std::optional<storage::Room>>& room) {
  auto time = [&](const char* key, const std::optional<Clock::time_point>& t) {
    w.key(key);
    if (t)
      w.value(formatInstant(*t));
    else
      w.null();
  };
  w.beginObject();
  w.field("id", r.id).field("room_id", r.roomId).field("tenant_id", r.tenantId);
  w.field("status", storage::statusName(r.status));
  w.field("source", r.source.empty() ? std::string("api") : r.source);
  time("started_at", r.startedAt);
  time("stopped_at", r.stoppedAt);
  w.key("duration_seconds");
  if (auto whole = wholeSeconds(r.durationSeconds))
    w.value(*whole);
  else
    w.null();
  w.key("size_bytes");
  if (r.sizeBytes)
    w.value(*r.sizeBytes);
  else
    w.null();
  w.key("storage");
  if (r.storage) {
    w.beginObject()
        .field("provider", r.storage->provider.empty() ? std::string("s3") : r.storage->provider)
        .field("bucket", r.storage->bucket)
        .field("key", r.storage->key);
    w.key("storage_class");
    if (r.storage->storageClass.empty())
      w.null();
    else
      w.value(r.storage->storageClass);
    w.endObject();
  } else {
    w.null();
  }
  w.key("provider_recording_id");
  if (r.providerRecordingId.empty())
    w.null();
  else
    w.value(r.providerRecordingId);
  if (r.status == RecordingStatus::kFailed) w.field("failure_reason", r.failureReason);
  time("ready_at", r.readyAt);
  time("archived_at", r.archivedAt);
  time("deleted_at", r.deletedAt);
  if (r.recoverRequestedAt) time("recover_requested_at", r.recoverRequestedAt);
  time("created_at", r.createdAt);
  time("updated_at", r.updatedAt);
  if (room) {
    w.key("room");
    if (*room) {
      w.beginObject()
          .field("id", (*room)->id)
          .field("name", (*room)->name)
          .field("tenant_id", (*room)->tenantId);
      w.endObject();
    } else {
      w.null();
    }
  }
  w.endObject();
}

namespace {

std::string recordingJson(const Recording& r,
                          const std::optional<std::optional<storage::Room>>& room = std::nullopt) {
  reactor::JsonWriter w;
  writeRecording(w, r, room);
  return w.take();
}

void replyData(reactor::HttpExchange& ex, int status, std::string_view json) {
  std::string body;
  body.reserve(json.size() + 10);
  body.append("{\"data\":").append(json).append("}");
  ex.reply(status, body);
}

// The service's answer, delivered to the request if it is still there.
template <typename T, typename F>
lifecycle::Reply<T> toExchange(reactor::HttpExchange& ex, F f) {
  // with() keeps anything thrown out of curl's and the worker pool's callbacks: that request
  // gets a 500, the worker goes on.
  return [request = reactor::ExchangeRef(ex), f](Outcome<T> outcome) {
    request.with([&](reactor::HttpExchange& e) { f(e, std::move(outcome)); });
  };
}

// {"error", "message", "request_id"}: the request id (also in X-Request-Id) is what support
// looks the detail up by.
void replyWithRequestId(reactor::HttpExchange& ex, int status, std::string_view code,
                        std::string_view message) {
  reactor::JsonWriter w;
  w.beginObject().field("error", code).field("message", message).field("request_id", ex.requestId());
  w.endObject();
  ex.reply(status, w.str());
}

// A failure the tenant cannot act on, but support can: a stable code, a fixed message and
// the request id. The detail (hosts and ports, S3's or the provider's own words, bucket
// names) goes to the log under the request id, never into the body.
void replyOpaqueFailure(reactor::HttpExchange& ex, int status, std::string_view code,
                        std::string_view message, std::string_view detail,
                        std::string_view recordingId = {}) {
  auto level = status >= 500 ? reactor::LogLevel::kWarn : reactor::LogLevel::kInfo;
  if (recordingId.empty()) {
    reactor::Logger::log(level, ex.requestId(), "lifecycle request failed",
                         {{"code", code}, {"detail", detail}});
  } else {
    reactor::Logger::log(level, ex.requestId(), "lifecycle request failed",
                         {{"code", code}, {"recording_id", recordingId}, {"detail", detail}});
  }
  ex.noteReason(detail);
  replyWithRequestId(ex, status, code, message);
}

// The answers every route shares; `notFound` is the route's message for kNotFound.
void replyProblem(reactor::HttpExchange& ex, const Problem& p, std::string_view notFound) {
  using K = Problem::Kind;
  switch (p.kind) {
    case K::kNoRoom:
      return ex.replyError(404, "not_found", "room not found");
    case K::kNotFound:
      return ex.replyError(404, "not_found", notFound);
    case K::kConflict: {
      std::string now = p.current ? std::string(storage::statusName(p.current->status)) : "changed";
      return ex.replyError(409, "conflict", "the recording changed meanwhile (now " + now + ")");
    }
    case K::kStoreUnavailable:
      ex.addHeader("Retry-After", "5");
      return replyOpaqueFailure(ex, 503, "store_unavailable",
                                "the recordings store is unavailable; retry shortly",
                                "recordings store unavailable: " + p.detail);
    case K::kProviderNotConfigured:
      ex.addHeader("Retry-After", "30");
      return ex.replyError(503, "provider_not_configured", "no media provider is configured");
    case K::kProviderFailed:
      if (p.provider.clientStatus() == 503) ex.addHeader("Retry-After", "30");
      return replyOpaqueFailure(ex, p.provider.clientStatus(), p.provider.clientCode(),
                                p.provider.clientMessage(), p.provider.reason, p.recordingId);
    case K::kProviderLostRecording:
      // A provider recording our recording is linked to, unknown to the provider: its fault.
      return replyOpaqueFailure(ex, 502, "provider_error", "the media provider does not know this recording",
                                p.provider.reason, p.recordingId);
    case K::kProviderRoomMismatch:
      ex.noteReason(p.detail);
      return replyWithRequestId(ex, 502, "provider_recording_mismatch",
                                "the media provider files this recording under another room, "
                                "so it was not reprocessed");
    case K::kInternal:
      reactor::Logger::log(reactor::LogLevel::kError, ex.requestId(), "lifecycle handler failed",
                           {{"error", p.detail}});
      break;
    case K::kAlreadyRecording:
    case K::kInvalidState:
    case K::kNoProviderRecording:
    case K::kArchiveRefused:
    case K::kArchiveNotMoved:
    case K::kLocationRefused:
    case K::kStorageNotConfigured:
    case K::kSignFailed:
      break;  // answered by their routes
  }
  ex.replyError(500, "internal", "internal error");
}

std::string currentStatus(const Problem& p) {
  return p.current ? std::string(storage::statusName(p.current->status)) : std::string("unknown");
}

lifecycle::LifecycleService& service(const std::shared_ptr<LifecycleContext>& ctx) {
  return ctx->runtime->service();
}

// Authenticates (401), then picks the tenant (400/403). nullopt: answered.
std::optional<Caller> authorize(reactor::HttpExchange& ex, const LifecycleContext& ctx) {
  auto claims = requireToken(ex, ctx.jwt);
  if (!claims) return std::nullopt;
  TenantChoice t = chooseTenant(*claims, ex.header("X-Account-ID"));
  if (t.status != 0) {
    ex.replyError(t.status, t.code, t.message);
    return std::nullopt;
  }
  return Caller{t.tenant, ex.requestId(), [request = reactor::ExchangeRef(ex)] { return request.alive(); }};
}

bool validRecordingId(std::string_view id) {
  return id.starts_with("rec_") && id.size() <= 128 && isSafePathParam(id);
}

// ---- routes -------------------------------------------------------------------------

void handleStart(reactor::HttpExchange& ex, const std::shared_ptr<LifecycleContext>& ctx) {
  auto caller = authorize(ex, *ctx);
  if (!caller) return;
  std::string roomId = ex.pathParams()[0];
  if (!isSafePathParam(roomId)) return ex.replyError(404, "not_found", "room not found");
  service(ctx).start(*caller, roomId,
                     toExchange<Recording>(ex, [roomId](reactor::HttpExchange& ex, Outcome<Recording> r) {
                       if (!r && r.error().kind == Problem::Kind::kAlreadyRecording) {
                         std::string msg = "room " + roomId + " is already recording";
                         if (r.error().current) msg += " (" + r.error().current->id + ")";
                         return ex.replyError(409, "already_recording", msg);
                       }
                       if (!r) return replyProblem(ex, r.error(), "room not found");
                       replyData(ex, 200, recordingJson(*r));
                     }));
}

void handleStop(reactor::HttpExchange& ex, const std::shared_ptr<LifecycleContext>& ctx) {
  auto caller = authorize(ex, *ctx);
  if (!caller) return;
  std::string roomId = ex.pathParams()[0];
  if (!isSafePathParam(roomId)) return ex.replyError(404, "not_found", "room not found");
  service(ctx).stop(*caller, roomId,
                    toExchange<Recording>(ex, [](reactor::HttpExchange& ex, Outcome<Recording> r) {
                      if (!r) return replyProblem(ex, r.error(), "no recording is active in this room");
                      replyData(ex, 200, recordingJson(*r));
                    }));
}

void handleSync(reactor::HttpExchange& ex, const std::shared_ptr<LifecycleContext>& ctx) {
  auto caller = authorize(ex, *ctx);
  if (!caller) return;
  std::string roomId = ex.pathParams()[0];
  if (!isSafePathParam(roomId)) return ex.replyError(404, "not_found", "room not found");
  service(ctx).sync(*caller, roomId,
                    toExchange<std::vector<Recording>>(
                        ex, [](reactor::HttpExchange& ex, Outcome<std::vector<Recording>> synced) {
                          if (!synced) return replyProblem(ex, synced.error(), "room not found");
                          reactor::JsonWriter w;
                          w.beginObject().field("synced_count", static_cast<int64_t>(synced->size()));
                          w.key("recordings").beginArray();
                          for (const auto& r : *synced) writeRecording(w, r);
                          w.endArray().endObject();
                          replyData(ex, 200, w.str());
                        }));
}

void handleList(reactor::HttpExchange& ex, const std::shared_ptr<LifecycleContext>& ctx) {
  auto caller = authorize(ex, *ctx);
  if (!caller) return;
  Paging paging = parsePaging(ex.query());
  if (!paging.error.empty()) return ex.replyError(422, "validation_error", paging.error);
  service(ctx).list(
      *caller, paging.limit, paging.offset,
      toExchange<lifecycle::RecordingList>(
          ex, [paging](reactor::HttpExchange& ex, Outcome<lifecycle::RecordingList> page) {
            if (!page) return replyProblem(ex, page.error(), "");
            reactor::JsonWriter w;
            w.beginObject().key("data").beginArray();
            for (const auto& r : page->items) writeRecording(w, r);
            w.endArray();
            w.key("meta").beginObject().field("total", page->total).field("limit", paging.limit);
            w.field("offset", paging.offset).endObject().endObject();
            ex.reply(200, w.str());
          }));
}

void handleGet(reactor::HttpExchange& ex, const std::shared_ptr<LifecycleContext>& ctx) {
  auto caller = authorize(ex, *ctx);
  if (!caller) return;
  std::string id = ex.pathParams()[0];
  if (!validRecordingId(id)) return ex.replyError(404, "not_found", "recording not found");
  service(ctx).get(
      *caller, id,
      toExchange<lifecycle::RecordingWithRoom>(ex, [](reactor::HttpExchange& ex,
                                                      Outcome<lifecycle::RecordingWithRoom> r) {
        if (!r) return replyProblem(ex, r.error(), "recording not found");
        replyData(ex, 200, recordingJson(r->recording, std::optional<std::optional<storage::Room>>(r->room)));
      }));
}

void handleDownload(reactor::HttpExchange& ex, const std::shared_ptr<LifecycleContext>& ctx) {
  auto caller = authorize(ex, *ctx);
  if (!caller) return;
  std::string id = ex.pathParams()[0];
  if (!validRecordingId(id)) return ex.replyError(404, "not_found", "recording not found");
  service(ctx).download(
      *caller, id,
      toExchange<lifecycle::Download>(ex, [](reactor::HttpExchange& ex, Outcome<lifecycle::Download> d) {
        if (!d) {
          const Problem& p = d.error();
          switch (p.kind) {
            case Problem::Kind::kLocationRefused:
              return replyOpaqueFailure(
                  ex, 502, "storage_location_refused",
                  "the recording's stored object is not in a location this service serves", p.detail,
                  p.recordingId);
            case Problem::Kind::kStorageNotConfigured:
              ex.addHeader("Retry-After", "30");
              return ex.replyError(503, "storage_not_configured", "storage is not configured");
            case Problem::Kind::kSignFailed:
              return replyOpaqueFailure(ex, 500, "internal", "cannot sign a download URL", p.detail,
                                        p.recordingId);
            default:
              return replyProblem(ex, p, "recording not found");
          }
        }
        const Recording& rec = d->recording;
        reactor::JsonWriter w;
        w.beginObject().field("recording_id", rec.id).field("status", storage::statusName(rec.status));
        // Not downloadable (yet): 200 {recording_id, status, message}, top level like the URL.
        if (d->notReady) {
          w.field("message", *d->notReady).endObject();
          return ex.reply(200, w.str());
        }
        w.field("download_url", d->url).field("expires_at", formatInstant(d->expiresAt));
        w.field("expires_in", d->expiresIn);
        w.key("duration");
        if (auto whole = wholeSeconds(rec.durationSeconds))
          w.value(*whole);
        else
          w.null();
        w.key("file_size");
        if (rec.sizeBytes)
          w.value(*rec.sizeBytes);
        else
          w.null();
        w.field("provider", rec.storage->provider.empty() ? std::string("s3") : rec.storage->provider);
        w.endObject();
        ex.reply(200, w.str());
      }));
}

// An archived or deleted recording's object is no longer what its key served: whoever keeps
// a copy (the object cache) drops it, even when the client has left.
lifecycle::Reply<Recording> droppingObject(const std::shared_ptr<LifecycleContext>& ctx,
                                           lifecycle::Reply<Recording> reply) {
  if (!ctx->objectGone) return reply;
  return [objectGone = ctx->objectGone, reply = std::move(reply)](Outcome<Recording> r) {
    if (r && r->storage && !r->storage->key.empty()) objectGone(r->storage->key);
    reply(std::move(r));
  };
}

void handleDelete(reactor::HttpExchange& ex, const std::shared_ptr<LifecycleContext>& ctx) {
  auto caller = authorize(ex, *ctx);
  if (!caller) return;
  std::string id = ex.pathParams()[0];
  if (!validRecordingId(id)) return ex.replyError(404, "not_found", "recording not found");
  service(ctx).remove(
      *caller, id,
      droppingObject(ctx, toExchange<Recording>(ex, [](reactor::HttpExchange& ex, Outcome<Recording> r) {
                       if (!r) return replyProblem(ex, r.error(), "recording not found");
                       reactor::JsonWriter w;
                       w.beginObject().field("id", r->id).field("deleted", true);
                       w.field("deleted_at", formatInstant(r->deletedAt.value_or(Clock::now()))).endObject();
                       replyData(ex, 200, w.str());
                     })));
}

void handleRecover(reactor::HttpExchange& ex, const std::shared_ptr<LifecycleContext>& ctx) {
  auto caller = authorize(ex, *ctx);
  if (!caller) return;
  std::string id = ex.pathParams()[0];
  if (!validRecordingId(id)) return ex.replyError(404, "not_found", "recording not found");
  service(ctx).recover(
      *caller, id, toExchange<Recording>(ex, [](reactor::HttpExchange& ex, Outcome<Recording> r) {
        if (!r && r.error().kind == Problem::Kind::kInvalidState) {
          return ex.replyError(
              400, "invalid_state",
              "only a processing recording can be recovered (this one is " + currentStatus(r.error()) + ")");
        }
        if (!r && r.error().kind == Problem::Kind::kNoProviderRecording) {
          return ex.replyError(
              400, "no_provider_recording",
              "this recording has no provider recording id, so the provider cannot reprocess it");
        }
        if (!r) return replyProblem(ex, r.error(), "recording not found");
        reactor::JsonWriter w;
        w.beginObject().field("id", r->id);
        w.field("status", storage::statusName(r->status)).field("message", lifecycle::kRecoverMessage);
        w.endObject();
        replyData(ex, 200, w.str());
      }));
}

// A move that did not happen, as the API answers it. Fixed messages: the reason may carry
// S3's own words, hosts and ports (logged by the service).
struct ArchiveAnswer {
  int status;
  const char* code;
  const char* message;
};

ArchiveAnswer archiveAnswer(storage::ArchiveMove::Kind kind) {
  using K = storage::ArchiveMove::Kind;
  switch (kind) {
    case K::kMissing:
      return {400, "not_in_hot_bucket",
              "the recording's object is in neither the hot bucket nor the archive"};
    case K::kMismatch:
      return {409, "archive_mismatch",
              "the archive already holds a different object for this recording; nothing was changed"};
    case K::kTooLarge:
      return {501, "too_large", "the recording is too large to be archived with the configured part size"};
    case K::kUnavailable:
      return {503, "storage_not_configured", "storage is not configured"};
    case K::kBusy:
      return {409, "archive_in_progress", "this recording is being archived by another request; retry later"};
    case K::kMoved:
    case K::kResumed:
    case K::kError:
      break;
  }
  return {502, "storage_error", "the storage service failed; the recording is unchanged, retry later"};
}

ArchiveAnswer refusalAnswer(const lifecycle::ArchiveRefusal& r) {
  using K = lifecycle::ArchiveRefusal::Kind;
  switch (r.kind) {
    case K::kNotInHotStore:
      return {400, "not_in_hot_bucket", nullptr};
    case K::kArchiveNotConfigured:
      return {503, "archive_not_configured", nullptr};
    case K::kStorageNotConfigured:
      return {503, "storage_not_configured", nullptr};
    case K::kTooManyInFlight:
      return {503, "archive_busy", nullptr};
  }
  return {500, "internal", nullptr};
}

void handleArchive(reactor::HttpExchange& ex, const std::shared_ptr<LifecycleContext>& ctx) {
  auto caller = authorize(ex, *ctx);
  if (!caller) return;
  std::string id = ex.pathParams()[0];
  if (!validRecordingId(id)) return ex.replyError(404, "not_found", "recording not found");
  // The move goes on if the client leaves: the state is set all the same.
  service(ctx).archive(
      *caller, id,
      droppingObject(ctx, toExchange<Recording>(ex, [](reactor::HttpExchange& ex, Outcome<Recording> r) {
                       if (r) return replyData(ex, 200, recordingJson(*r));
                       const Problem& p = r.error();
                       switch (p.kind) {
                         case Problem::Kind::kInvalidState:
                           return ex.replyError(400, "invalid_state",
                                                "only a ready recording can be archived (this one is " +
                                                    currentStatus(p) + ")");
                         case Problem::Kind::kArchiveRefused: {
                           ArchiveAnswer a = refusalAnswer(*p.refusal);
                           if (a.status == 503) ex.addHeader("Retry-After", "30");
                           return ex.replyError(a.status, a.code, p.refusal->message);
                         }
                         case Problem::Kind::kArchiveNotMoved: {
                           ArchiveAnswer a = archiveAnswer(p.moveKind);
                           if (a.status == 503) ex.addHeader("Retry-After", "5");
                           if (p.moveKind == storage::ArchiveMove::Kind::kBusy)
                             ex.addHeader("Retry-After", "30");
                           ex.noteReason(p.detail);
                           return replyWithRequestId(ex, a.status, a.code, a.message);
                         }
                         default:
                           return replyProblem(ex, p, "recording not found");
                       }
                     })));
}

}  // namespace

// ---- public entry points ------------------------------------------------------------

namespace {

std::shared_ptr<lifecycle::Lifecycle> ensureRuntime(const std::shared_ptr<LifecycleContext>& ctx) {
  if (!ctx->runtime) {
    StorageSigner* signer = ctx->signer;
    lifecycle::LifecycleDeps deps{*ctx->mongo, *ctx->curl, *ctx->loop, ctx->metrics,
                                  [signer]() -> lifecycle::SigningStore {
                                    if (!signer) return {};
                                    return {signer->settings().location(), signer->get()};
                                  }};
    ctx->runtime = std::make_shared<lifecycle::Lifecycle>(deps, ctx->settings);
  }
  return ctx->runtime;
}

}  // namespace

void registerLifecycleRoutes(reactor::HttpServer& server, std::shared_ptr<LifecycleContext> ctx) {
  ensureRuntime(ctx);
  auto route = [&](uint16_t methods, std::string_view pattern, std::string name,
                   void (*handler)(reactor::HttpExchange&, const std::shared_ptr<LifecycleContext>&),
                   reactor::RouteGuard guard = nullptr) {
    server.route(
        methods, pattern, std::move(name), [ctx, handler](reactor::HttpExchange& ex) { handler(ex, ctx); },
        guard);
  };
  // Patterns (parameter names included) as in the OpenAPI document.
  route(reactor::kPost, "/api/v1/rooms/{id}/recordings/start", "lifecycle_start", &handleStart);
  route(reactor::kPost, "/api/v1/rooms/{id}/recordings/stop", "lifecycle_stop", &handleStop);
  route(reactor::kPost, "/api/v1/rooms/{id}/recordings/sync", "lifecycle_sync", &handleSync);
  route(reactor::kGet, "/api/v1/recordings", "lifecycle_list", &handleList);
  // The session stream (handlers/recordings.cc) has the same pattern for GET/HEAD: this route
  // takes the rec_ ids, that one every other id, in either order of registration.
  route(reactor::kGet | reactor::kHead, "/api/v1/recordings/{id}", "lifecycle_get", &handleGet,
        [](const std::vector<std::string>& params) { return storage::hasRecordingIdPrefix(params[0]); });
  route(reactor::kGet, "/api/v1/recordings/{id}/download", "lifecycle_download", &handleDownload);
  route(reactor::kPost, "/api/v1/recordings/{id}/archive", "lifecycle_archive", &handleArchive);
  route(reactor::kPost, "/api/v1/recordings/{id}/recover", "lifecycle_recover", &handleRecover);
  // Any id: DELETE has no other route, and an id without the prefix is simply not found.
  route(reactor::kDelete, "/api/v1/recordings/{id}", "lifecycle_delete", &handleDelete);
}

void startLifecyclePoller(const std::shared_ptr<LifecycleContext>& ctx) {
  ensureRuntime(ctx)->startBackground();
}

}  // namespace recgw::handlers
