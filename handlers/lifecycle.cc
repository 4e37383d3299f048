#include "handlers/lifecycle.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "fleet/media_provider.h"
#include "handlers/http_semantics.h"
#include "handlers/lifecycle_poller.h"
#include "handlers/lifecycle_runtime.h"
#include "reactor/logger.h"
#include "storage/s3_addressing.h"
#include "storage/uri_encoding.h"

namespace recgw::handlers {

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

std::optional<RecordingStatus> mapProviderStatus(std::string_view s) {
  for (std::string_view w : {"recording", "active", "in_progress", "started"}) {
    if (s == w) return RecordingStatus::kRecording;
  }
  for (std::string_view w : {"processing", "stopped", "uploading", "pending"}) {
    if (s == w) return RecordingStatus::kProcessing;
  }
  for (std::string_view w : {"ready", "completed", "complete", "finished", "available"}) {
    if (s == w) return RecordingStatus::kReady;
  }
  for (std::string_view w : {"failed", "error", "errored"}) {
    if (s == w) return RecordingStatus::kFailed;
  }
  return std::nullopt;
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

// ---- shared plumbing ----------------------------------------------------------------

// ---- shared with the poller (handlers/lifecycle_runtime.h) -------------------------

void noteTransition(LifecycleContext& ctx, std::string_view requestId, const Recording& r,
                    std::string_view from, std::string_view to, std::string_view by) {
  reactor::Logger::log(reactor::LogLevel::kInfo, requestId, "recording state changed",
                       {{"recording_id", r.id},
                        {"tenant", r.tenantId},
                        {"room_id", r.roomId},
                        {"from", from},
                        {"to", to},
                        {"by", by}});
  if (ctx.metrics) {
    ctx.metrics->inc("recgw_lifecycle_transitions_total",
                     reactor::Metrics::label("from", from) + "," + reactor::Metrics::label("to", to));
  }
}

void noteUnboundProviderRecording(LifecycleContext& ctx, std::string_view requestId, const Recording& r,
                                  std::string_view providerRoom, std::string_view by) {
  reactor::Logger::log(reactor::LogLevel::kWarn, requestId, "provider recording not bound to this room",
                       {{"recording_id", r.id},
                        {"tenant", r.tenantId},
                        {"room_id", r.roomId},
                        {"provider_recording_id", r.providerRecordingId},
                        {"provider_room_id", providerRoom},
                        {"by", by}});
  countMetric(ctx, "recgw_lifecycle_provider_calls_total", "op", "not_bound");
}

void countMetric(LifecycleContext& ctx, std::string_view name, std::string_view key, std::string_view value) {
  if (ctx.metrics) ctx.metrics->inc(name, reactor::Metrics::label(key, value));
}

storage::ProviderSnapshot snapshotFrom(const fleet::ProviderRecording& p) {
  storage::ProviderSnapshot s;
  s.providerId = p.id;
  s.roomId = p.roomId;
  s.status = mapProviderStatus(p.status);
  s.startedAt = p.startedAt;
  s.stoppedAt = p.stoppedAt;
  s.durationSeconds = p.durationSeconds;
  s.sizeBytes = p.sizeBytes;
  if (!p.key.empty())
    s.storage =
        storage::StoredObject{p.storageProvider.empty() ? "s3" : p.storageProvider, p.bucket, p.key, {}};
  s.failureReason = p.error.empty() ? "the media provider reported a failure" : p.error;
  return s;
}

fleet::MediaProviderSettings providerSettings(const LifecycleSettings& s) {
  fleet::MediaProviderSettings p;
  p.baseUrl = s.providerUrl;
  p.token = s.providerToken;
  p.connectTimeout = s.providerConnectTimeout;
  p.timeout = s.providerTimeout;
  p.retries = std::max(0, s.providerRetries);
  p.backoff = s.providerBackoff;
  return p;
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

// Runs `f` with the request if it is still there. Callbacks from curl reach here without a
// catch of their own: nothing may escape into libcurl or libevent.
template <typename F>
void withExchange(reactor::HttpServer* srv, uint64_t xid, F&& f) {
  reactor::HttpExchange* ex = srv->find(xid);
  if (!ex) return;
  try {
    f(*ex);
  } catch (const std::exception& e) {
    reactor::Logger::log(reactor::LogLevel::kError, ex->requestId(), "lifecycle handler failed",
                         {{"error", e.what()}});
    if (!ex->done()) ex->replyError(500, "internal", "internal error");
  }
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

void replyStoreFailure(reactor::HttpExchange& ex, const StoreResult& r, std::string_view notFound) {
  switch (r.outcome) {
    case StoreOutcome::kNoRoom:
      return ex.replyError(404, "not_found", "room not found");
    case StoreOutcome::kNotFound:
      return ex.replyError(404, "not_found", notFound);
    case StoreOutcome::kConflict: {
      std::string now = r.recording ? std::string(storage::statusName(r.recording->status)) : "changed";
      return ex.replyError(409, "conflict", "the recording changed meanwhile (now " + now + ")");
    }
    case StoreOutcome::kUnavailable:
      ex.addHeader("Retry-After", "5");
      return replyOpaqueFailure(ex, 503, "store_unavailable",
                                "the recordings store is unavailable; retry shortly",
                                "recordings store unavailable: " + r.error);
    case StoreOutcome::kOk:
      break;
  }
  ex.replyError(500, "internal", "internal error");
}

void replyProviderFailure(reactor::HttpExchange& ex, const fleet::ProviderError& e,
                          std::string_view recordingId = {}) {
  if (e.clientStatus() == 503) ex.addHeader("Retry-After", "30");
  replyOpaqueFailure(ex, e.clientStatus(), e.clientCode(), e.clientMessage(), e.reason, recordingId);
}

std::shared_ptr<LifecycleRuntime> ensureRuntime(const std::shared_ptr<LifecycleContext>& ctx) {
  if (!ctx->runtime) {
    ctx->runtime = std::make_shared<LifecycleRuntime>(*ctx);
    if (reactor::Metrics* m = ctx->metrics) {
      using T = reactor::Metrics::Type;
      m->describe("recgw_lifecycle_transitions_total", T::kCounter,
                  "Recording state changes, by from and to");
      m->describe("recgw_lifecycle_archive_total", T::kCounter, "Archive requests, by outcome");
      m->describe("recgw_lifecycle_provider_calls_total", T::kCounter,
                  "Media provider calls, by op and outcome");
      m->describe("recgw_lifecycle_poll_passes_total", T::kCounter, "Background poll passes, by outcome");
    }
  }
  return ctx->runtime;
}

// Authenticates (401), then picks the tenant (400/403). nullopt: answered.
std::optional<std::string> authorize(reactor::HttpExchange& ex, const LifecycleContext& ctx) {
  auto claims = requireToken(ex, ctx.jwt);
  if (!claims) return std::nullopt;
  TenantChoice t = chooseTenant(*claims, ex.header("X-Account-ID"));
  if (t.status != 0) {
    ex.replyError(t.status, t.code, t.message);
    return std::nullopt;
  }
  return t.tenant;
}

bool validRecordingId(std::string_view id) {
  return id.starts_with("rec_") && id.size() <= 128 && isSafePathParam(id);
}

// A MongoDB job whose answer goes to the request, if it is still there.
template <typename R, typename Job, typename Done>
void storeCall(LifecycleRuntime& rt, reactor::HttpExchange& ex, Job job, Done done) {
  reactor::HttpServer* srv = &ex.server();
  uint64_t xid = ex.id();
  rt.store.run<R>(std::function<R(mongoc_client_t*, const RecordingCollections&)>(std::move(job)),
                  [srv, xid, done](R result) {
                    withExchange(srv, xid, [&](reactor::HttpExchange& e) { done(e, std::move(result)); });
                  });
}

// ---- routes -------------------------------------------------------------------------

void handleStart(reactor::HttpExchange& ex, const std::shared_ptr<LifecycleContext>& ctx) {
  auto tenant = authorize(ex, *ctx);
  if (!tenant) return;
  std::string roomId = ex.pathParams()[0];
  if (!isSafePathParam(roomId)) return ex.replyError(404, "not_found", "room not found");
  std::string id = storage::newRecordingId();
  auto now = Clock::now();
  storeCall<StoreResult>(
      *ctx->runtime, ex,
      [t = *tenant, roomId, id, now](mongoc_client_t* c, const RecordingCollections& n) {
        return RecordingStore::start(c, n, t, roomId, id, now);
      },
      [ctx, roomId](reactor::HttpExchange& ex, StoreResult r) {
        if (r.outcome == StoreOutcome::kConflict) {
          std::string msg = "room " + roomId + " is already recording";
          if (r.recording) msg += " (" + r.recording->id + ")";
          return ex.replyError(409, "already_recording", msg);
        }
        if (!r.ok()) return replyStoreFailure(ex, r, "room not found");
        noteTransition(*ctx, ex.requestId(), *r.recording, "none", "recording", "start");
        replyData(ex, 200, recordingJson(*r.recording));
      });
}

void handleStop(reactor::HttpExchange& ex, const std::shared_ptr<LifecycleContext>& ctx) {
  auto tenant = authorize(ex, *ctx);
  if (!tenant) return;
  std::string roomId = ex.pathParams()[0];
  if (!isSafePathParam(roomId)) return ex.replyError(404, "not_found", "room not found");
  auto now = Clock::now();
  storeCall<StoreResult>(
      *ctx->runtime, ex,
      [t = *tenant, roomId, now](mongoc_client_t* c, const RecordingCollections& n) {
        return RecordingStore::stop(c, n, t, roomId, now);
      },
      [ctx](reactor::HttpExchange& ex, StoreResult r) {
        if (!r.ok()) return replyStoreFailure(ex, r, "no recording is active in this room");
        noteTransition(*ctx, ex.requestId(), *r.recording, "recording", "processing", "stop");
        replyData(ex, 200, recordingJson(*r.recording));
      });
}

void syncWithProvider(reactor::HttpExchange& ex, const std::shared_ptr<LifecycleContext>& ctx,
                      const std::string& tenant, const std::string& roomId) {
  reactor::HttpServer* srv = &ex.server();
  uint64_t xid = ex.id();
  std::weak_ptr<LifecycleContext> weak = ctx;
  // Never the bare room id: another tenant may have a room of the same id.
  std::string providerRoom = storage::providerRoomId(tenant, roomId);
  ctx->runtime->provider.listRoomRecordings(providerRoom, [weak, srv, xid, tenant, roomId](
                                                              fleet::ProviderError err,
                                                              std::vector<fleet::ProviderRecording> list) {
    auto ctx = weak.lock();
    if (!ctx) return;
    countMetric(*ctx, "recgw_lifecycle_provider_calls_total", "op", err.ok() ? "list_ok" : "list_failed");
    withExchange(srv, xid, [&](reactor::HttpExchange& ex) {
      // A room the provider never saw has no recordings there.
      if (!err.ok() && err.kind != fleet::ProviderError::Kind::kNotFound)
        return replyProviderFailure(ex, err);
      std::vector<storage::ProviderSnapshot> snapshots;
      for (const auto& p : list) snapshots.push_back(snapshotFrom(p));
      auto window = ctx->settings.linkWindow;
      auto now = Clock::now();
      storeCall<storage::SyncResult>(
          *ctx->runtime, ex,
          [tenant, roomId, snapshots, window, now](mongoc_client_t* c, const RecordingCollections& n) {
            return RecordingStore::sync(c, n, tenant, roomId, snapshots, window, true, true, now);
          },
          [ctx](reactor::HttpExchange& ex, storage::SyncResult s) {
            if (s.outcome != StoreOutcome::kOk)
              return replyStoreFailure(ex, {s.outcome, {}, {}, s.error}, "");
            for (const auto& id : s.refused) {
              reactor::Logger::log(reactor::LogLevel::kWarn, ex.requestId(),
                                   "provider recording listed under another room; not synced",
                                   {{"provider_recording_id", id}});
            }
            reactor::JsonWriter w;
            w.beginObject().field("synced_count", static_cast<int64_t>(s.synced.size())).key("recordings");
            w.beginArray();
            for (const auto& r : s.synced) {
              writeRecording(w, r);
              reactor::Logger::log(reactor::LogLevel::kInfo, ex.requestId(), "recording synced",
                                   {{"recording_id", r.id},
                                    {"provider_recording_id", r.providerRecordingId},
                                    {"source", r.source},
                                    {"status", storage::statusName(r.status)}});
            }
            w.endArray().endObject();
            replyData(ex, 200, w.str());
          });
    });
  });
}

void handleSync(reactor::HttpExchange& ex, const std::shared_ptr<LifecycleContext>& ctx) {
  auto tenant = authorize(ex, *ctx);
  if (!tenant) return;
  std::string roomId = ex.pathParams()[0];
  if (!isSafePathParam(roomId)) return ex.replyError(404, "not_found", "room not found");
  if (!ctx->runtime->provider.configured()) {
    ex.addHeader("Retry-After", "30");
    return ex.replyError(503, "provider_not_configured", "no media provider is configured");
  }
  // The room first: another tenant's room must not even cause a provider call.
  storeCall<StoreResult>(
      *ctx->runtime, ex,
      [t = *tenant, roomId](mongoc_client_t* c, const RecordingCollections& n) {
        std::string error;
        auto room = RecordingStore::findRoom(c, n, t, roomId, error);
        if (!error.empty()) return StoreResult::unavailable(error);
        return StoreResult{room ? StoreOutcome::kOk : StoreOutcome::kNoRoom, {}, room, {}};
      },
      [ctx, t = *tenant, roomId](reactor::HttpExchange& ex, StoreResult r) {
        if (!r.ok()) return replyStoreFailure(ex, r, "room not found");
        syncWithProvider(ex, ctx, t, roomId);
      });
}

void handleList(reactor::HttpExchange& ex, const std::shared_ptr<LifecycleContext>& ctx) {
  auto tenant = authorize(ex, *ctx);
  if (!tenant) return;
  Paging paging = parsePaging(ex.query());
  if (!paging.error.empty()) return ex.replyError(422, "validation_error", paging.error);
  storeCall<storage::RecordingPage>(
      *ctx->runtime, ex,
      [t = *tenant, paging](mongoc_client_t* c, const RecordingCollections& n) {
        return RecordingStore::list(c, n, t, paging.limit, paging.offset);
      },
      [paging](reactor::HttpExchange& ex, storage::RecordingPage page) {
        if (!page.error.empty()) return replyStoreFailure(ex, StoreResult::unavailable(page.error), "");
        reactor::JsonWriter w;
        w.beginObject().key("data").beginArray();
        for (const auto& r : page.items) writeRecording(w, r);
        w.endArray();
        w.key("meta").beginObject().field("total", page.total).field("limit", paging.limit);
        w.field("offset", paging.offset).endObject().endObject();
        ex.reply(200, w.str());
      });
}

// Loads the tenant's recording, then hands it to `next`; answers 404/503 itself.
template <typename Next>
void withRecording(reactor::HttpExchange& ex, const std::shared_ptr<LifecycleContext>& ctx,
                   const std::string& tenant, const std::string& id, bool withRoom, Next next) {
  if (!validRecordingId(id)) return ex.replyError(404, "not_found", "recording not found");
  storeCall<StoreResult>(
      *ctx->runtime, ex,
      [tenant, id, withRoom](mongoc_client_t* c, const RecordingCollections& n) {
        return RecordingStore::get(c, n, tenant, id, withRoom);
      },
      [next](reactor::HttpExchange& ex, StoreResult r) {
        if (!r.ok()) return replyStoreFailure(ex, r, "recording not found");
        next(ex, std::move(r));
      });
}

void handleGet(reactor::HttpExchange& ex, const std::shared_ptr<LifecycleContext>& ctx) {
  auto tenant = authorize(ex, *ctx);
  if (!tenant) return;
  withRecording(ex, ctx, *tenant, ex.pathParams()[0], true, [](reactor::HttpExchange& ex, StoreResult r) {
    replyData(ex, 200, recordingJson(*r.recording, std::optional<std::optional<storage::Room>>(r.room)));
  });
}

void handleDownload(reactor::HttpExchange& ex, const std::shared_ptr<LifecycleContext>& ctx) {
  auto tenant = authorize(ex, *ctx);
  if (!tenant) return;
  withRecording(ex, ctx, *tenant, ex.pathParams()[0], false, [ctx](reactor::HttpExchange& ex, StoreResult r) {
    const Recording& rec = *r.recording;
    // Not downloadable (yet): 200 {recording_id, status, message}, top level like the URL.
    auto message = [&](std::string_view text) {
      reactor::JsonWriter w;
      w.beginObject().field("recording_id", rec.id).field("status", storage::statusName(rec.status));
      w.field("message", text).endObject();
      ex.reply(200, w.str());
    };
    switch (rec.status) {
      case RecordingStatus::kRecording:
        return message("Recording is still in progress. Stop it, then try again once it is processed.");
      case RecordingStatus::kProcessing:
        return message(kDownloadProcessingMessage);
      case RecordingStatus::kFailed:
        return message("Recording failed: " + rec.failureReason);
      case RecordingStatus::kArchived:
        if (rec.storage && !storage::storageClassAllowsGet(rec.storage->storageClass)) {
          return message("Recording is archived in " + rec.storage->storageClass +
                         " and must be restored before it can be downloaded.");
        }
        break;
      case RecordingStatus::kReady:
        break;
    }
    if (!rec.storage) return message("Recording has no stored object.");
    const std::string& bucket = rec.storage->bucket;
    // The location may come from the provider, and a presigned URL lends our credentials to
    // whatever bucket it names: only the hot and the archive bucket are signed for, each
    // with its own service's credentials (lifecycle_archive.h).
    auto store = ctx->runtime->archive->storeForBucket(bucket);
    if (!store) {
      return replyOpaqueFailure(ex, 502, "storage_location_refused",
                                "the recording's stored object is not in a location this service serves",
                                "download refused: bucket " + bucket +
                                    " is neither the hot nor the archive bucket",
                                rec.id);
    }
    storage::SigV4Signer* signer = store->signer;
    if (!signer) {
      ex.addHeader("Retry-After", "30");
      return ex.replyError(503, "storage_not_configured", "storage is not configured");
    }
    storage::S3Location loc = store->location;
    int64_t ttl = ctx->settings.downloadUrlTtl.count();
    auto now = Clock::now();
    storage::PresignedUrl url =
        signer->presign("GET", storage::objectTarget(loc, rec.storage->key), ttl, now);
    if (!url.ok()) {
      return replyOpaqueFailure(ex, 500, "internal", "cannot sign a download URL",
                                "presign failed: " + url.error, rec.id);
    }
    reactor::JsonWriter w;
    w.beginObject().field("recording_id", rec.id).field("status", storage::statusName(rec.status));
    w.field("download_url", url.url).field("expires_at", formatInstant(now + std::chrono::seconds(ttl)));
    w.field("expires_in", ttl);
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
  });
}

void handleDelete(reactor::HttpExchange& ex, const std::shared_ptr<LifecycleContext>& ctx) {
  auto tenant = authorize(ex, *ctx);
  if (!tenant) return;
  std::string id = ex.pathParams()[0];
  if (!validRecordingId(id)) return ex.replyError(404, "not_found", "recording not found");
  auto now = Clock::now();
  storeCall<StoreResult>(
      *ctx->runtime, ex,
      [t = *tenant, id, now](mongoc_client_t* c, const RecordingCollections& n) {
        return RecordingStore::softDelete(c, n, t, id, now);
      },
      [](reactor::HttpExchange& ex, StoreResult r) {
        if (!r.ok()) return replyStoreFailure(ex, r, "recording not found");
        reactor::Logger::log(reactor::LogLevel::kInfo, ex.requestId(), "recording deleted (soft)",
                             {{"recording_id", r.recording->id}, {"tenant", r.recording->tenantId}});
        reactor::JsonWriter w;
        w.beginObject().field("id", r.recording->id).field("deleted", true);
        w.field("deleted_at", formatInstant(r.recording->deletedAt.value_or(Clock::now()))).endObject();
        replyData(ex, 200, w.str());
      });
}

// A provider recording our recording is linked to, unknown to the provider: its fault (502).
void replyProviderLostIt(reactor::HttpExchange& ex, const fleet::ProviderError& e,
                         const std::string& recordingId) {
  replyOpaqueFailure(ex, 502, "provider_error", "the media provider does not know this recording", e.reason,
                     recordingId);
}

// The recording to recover, and whether another tenant has a room of the same id (a provider
// recording filed under the bare room id is then not provably this tenant's).
struct RecoverTarget {
  StoreResult found;
  bool roomIdShared = false;
  static RecoverTarget unavailable(std::string why) {
    return {StoreResult::unavailable(std::move(why)), false};
  }
};

void requestReprocess(const std::shared_ptr<LifecycleContext>& ctx, reactor::HttpExchange& ex,
                      const std::string& tenant, const Recording& rec) {
  reactor::HttpServer* srv = &ex.server();
  uint64_t xid = ex.id();
  std::weak_ptr<LifecycleContext> weak = ctx;
  std::string id = rec.id;
  ctx->runtime->provider.requestReprocess(rec.providerRecordingId, [weak, srv, xid, tenant,
                                                                    id](fleet::ProviderError err) {
    auto ctx = weak.lock();
    if (!ctx) return;
    countMetric(*ctx, "recgw_lifecycle_provider_calls_total", "op",
                err.ok() ? "reprocess_ok" : "reprocess_failed");
    withExchange(srv, xid, [&](reactor::HttpExchange& ex) {
      if (err.kind == fleet::ProviderError::Kind::kNotFound) return replyProviderLostIt(ex, err, id);
      if (!err.ok()) return replyProviderFailure(ex, err, id);
      auto now = Clock::now();
      storeCall<StoreResult>(
          *ctx->runtime, ex,
          [tenant, id, now](mongoc_client_t* c, const RecordingCollections& n) {
            storage::TransitionUpdate u;
            u.recoverRequestedAt = now;
            return RecordingStore::transition(c, n, tenant, id, RecordingStatus::kProcessing, u, now);
          },
          [](reactor::HttpExchange& ex, StoreResult r) {
            if (!r.ok()) return replyStoreFailure(ex, r, "recording not found");
            reactor::Logger::log(reactor::LogLevel::kInfo, ex.requestId(), "recording reprocess requested",
                                 {{"recording_id", r.recording->id},
                                  {"provider_recording_id", r.recording->providerRecordingId}});
            reactor::JsonWriter w;
            w.beginObject().field("id", r.recording->id);
            w.field("status", storage::statusName(r.recording->status)).field("message", kRecoverMessage);
            w.endObject();
            replyData(ex, 200, w.str());
          });
    });
  });
}

// Reprocessing is asked for only after the provider confirms the recording is filed under
// this tenant's room (storage::linkedProviderRoomAccepted): a link made before room names
// were scoped may point at another tenant's recording.
void handleRecover(reactor::HttpExchange& ex, const std::shared_ptr<LifecycleContext>& ctx) {
  auto tenant = authorize(ex, *ctx);
  if (!tenant) return;
  std::string t = *tenant;
  std::string id = ex.pathParams()[0];
  if (!validRecordingId(id)) return ex.replyError(404, "not_found", "recording not found");
  storeCall<RecoverTarget>(
      *ctx->runtime, ex,
      [t, id](mongoc_client_t* c, const RecordingCollections& n) {
        RecoverTarget out{RecordingStore::get(c, n, t, id, false), false};
        if (out.found.ok() && !out.found.recording->providerRecordingId.empty()) {
          std::string error;
          out.roomIdShared = RecordingStore::roomIdShared(c, n, t, out.found.recording->roomId, error);
          if (!error.empty()) return RecoverTarget::unavailable(error);
        }
        return out;
      },
      [ctx, t](reactor::HttpExchange& ex, RecoverTarget target) {
        if (!target.found.ok()) return replyStoreFailure(ex, target.found, "recording not found");
        const Recording& rec = *target.found.recording;
        if (rec.status != RecordingStatus::kProcessing) {
          return ex.replyError(400, "invalid_state",
                               "only a processing recording can be recovered (this one is " +
                                   std::string(storage::statusName(rec.status)) + ")");
        }
        if (rec.providerRecordingId.empty()) {
          return ex.replyError(
              400, "no_provider_recording",
              "this recording has no provider recording id, so the provider cannot reprocess it");
        }
        if (!ctx->runtime->provider.configured()) {
          ex.addHeader("Retry-After", "30");
          return ex.replyError(503, "provider_not_configured", "no media provider is configured");
        }
        reactor::HttpServer* srv = &ex.server();
        uint64_t xid = ex.id();
        std::weak_ptr<LifecycleContext> weak = ctx;
        bool shared = target.roomIdShared;
        ctx->runtime->provider.getRecording(
            rec.providerRecordingId,
            [weak, srv, xid, t, rec, shared](fleet::ProviderError err, fleet::ProviderRecording p) {
              auto ctx = weak.lock();
              if (!ctx) return;
              countMetric(*ctx, "recgw_lifecycle_provider_calls_total", "op",
                          err.ok() ? "get_ok" : "get_failed");
              withExchange(srv, xid, [&](reactor::HttpExchange& ex) {
                if (err.kind == fleet::ProviderError::Kind::kNotFound)
                  return replyProviderLostIt(ex, err, rec.id);
                if (!err.ok()) return replyProviderFailure(ex, err, rec.id);
                auto binding = storage::bindProviderRoom(p.roomId, rec.tenantId, rec.roomId);
                if (!storage::linkedProviderRoomAccepted(binding, shared)) {
                  noteUnboundProviderRecording(*ctx, ex.requestId(), rec, p.roomId, "recover");
                  ex.noteReason("provider recording filed under room " + p.roomId);
                  return replyWithRequestId(ex, 502, "provider_recording_mismatch",
                                            "the media provider files this recording under another room, "
                                            "so it was not reprocessed");
                }
                requestReprocess(ctx, ex, t, rec);
              });
            });
      });
}

// ---- archive: storage::S3Objects::moveToArchive, then the state (see lifecycle.h) ----

void archiveSetState(const std::shared_ptr<LifecycleContext>& ctx, reactor::HttpServer* srv, uint64_t xid,
                     const std::string& requestId, const std::string& tenant, const Recording& rec,
                     storage::StoredObject archived) {
  auto now = Clock::now();
  storage::TransitionUpdate u;
  u.to = RecordingStatus::kArchived;
  u.archivedAt = now;
  u.storage = std::move(archived);
  u.idempotent = true;  // a rerun after a crash finishes at once
  std::string id = rec.id;
  ctx->runtime->store.run<StoreResult>(
      [tenant, id, u, now](mongoc_client_t* c, const RecordingCollections& n) {
        return RecordingStore::transition(c, n, tenant, id, RecordingStatus::kReady, u, now);
      },
      [ctx, srv, xid, requestId](StoreResult r) {
        countMetric(*ctx, "recgw_lifecycle_archive_total", "outcome", r.ok() ? "archived" : "state_failed");
        if (r.ok()) noteTransition(*ctx, requestId, *r.recording, "ready", "archived", "archive");
        withExchange(srv, xid, [&](reactor::HttpExchange& ex) {
          if (!r.ok()) return replyStoreFailure(ex, r, "recording not found");
          replyData(ex, 200, recordingJson(*r.recording));
        });
      });
}

void handleArchive(reactor::HttpExchange& ex, const std::shared_ptr<LifecycleContext>& ctx) {
  auto tenant = authorize(ex, *ctx);
  if (!tenant) return;
  std::string t = *tenant;
  withRecording(ex, ctx, t, ex.pathParams()[0], false, [ctx, t](reactor::HttpExchange& ex, StoreResult r) {
    const Recording& rec = *r.recording;
    if (rec.status != RecordingStatus::kReady) {
      return ex.replyError(400, "invalid_state",
                           "only a ready recording can be archived (this one is " +
                               std::string(storage::statusName(rec.status)) + ")");
    }
    ArchiveService& archive = *ctx->runtime->archive;
    if (auto refusal = archive.refuse(rec)) {
      if (refusal->status == 503) ex.addHeader("Retry-After", "30");
      return ex.replyError(refusal->status, refusal->code, refusal->message);
    }
    reactor::HttpServer* srv = &ex.server();
    uint64_t xid = ex.id();
    std::string requestId = ex.requestId();
    reactor::Logger::log(reactor::LogLevel::kInfo, requestId, "archive started",
                         {{"recording_id", rec.id},
                          {"to_bucket", ctx->settings.archiveBucket},
                          {"storage_class", ctx->settings.archiveStorageClass},
                          {"mode", archive.streamed() ? "streamed" : "server_copy"}});
    // The move goes on if the client leaves: the state is set all the same.
    archive.move(rec, [ctx, srv, xid, requestId, t, rec](storage::ArchiveMove m,
                                                         storage::StoredObject target) {
      using K = storage::ArchiveMove::Kind;
      if (m.kind == K::kMoved || m.kind == K::kResumed) {
        if (m.kind == K::kResumed) {
          reactor::Logger::log(reactor::LogLevel::kInfo, requestId,
                               "archive copy already in place; finishing", {{"recording_id", rec.id}});
        }
        return archiveSetState(ctx, srv, xid, requestId, t, rec, std::move(target));
      }
      // Fixed messages: m.reason may carry S3's own words, hosts and ports (for the log).
      struct Answer {
        int status;
        const char* code;
        const char* message;
      };
      Answer a{502, "storage_error", "the storage service failed; the recording is unchanged, retry later"};
      if (m.kind == K::kMissing) {
        a = {400, "not_in_hot_bucket", "the recording's object is in neither the hot bucket nor the archive"};
      } else if (m.kind == K::kMismatch) {
        a = {409, "archive_mismatch",
             "the archive already holds a different object for this recording; nothing was changed"};
      } else if (m.kind == K::kTooLarge) {
        a = {501, "too_large", "the recording is too large to be archived with the configured part size"};
      } else if (m.kind == K::kUnavailable) {
        a = {503, "storage_not_configured", "storage is not configured"};
      } else if (m.kind == K::kBusy) {
        a = {409, "archive_in_progress", "this recording is being archived by another request; retry later"};
      }
      reactor::Logger::log(a.status >= 500 ? reactor::LogLevel::kWarn : reactor::LogLevel::kInfo, requestId,
                           "archive not done", {{"recording_id", rec.id}, {"reason", m.reason}});
      countMetric(*ctx, "recgw_lifecycle_archive_total", "outcome", a.code);
      withExchange(srv, xid, [&](reactor::HttpExchange& ex) {
        if (a.status == 503) ex.addHeader("Retry-After", "5");
        if (a.status == 409 && m.kind == K::kBusy) ex.addHeader("Retry-After", "30");
        ex.noteReason(m.reason);
        replyWithRequestId(ex, a.status, a.code, a.message);
      });
    });
  });
}

}  // namespace

LifecycleRuntime::LifecycleRuntime(LifecycleContext& c)
    : ctx(c),
      store(*c.mongo,
            RecordingCollections{c.mongo->databaseName(), c.settings.roomsCollection,
                                 c.settings.recordingsCollection, c.settings.transitionsCollection}),
      provider(*c.loop, *c.curl, providerSettings(c.settings)),
      objects(*c.loop, *c.curl, storage::S3Timeouts{std::chrono::milliseconds(3000), c.settings.s3Timeout}),
      archive(std::make_unique<ArchiveService>(*c.loop, objects, store, c.settings, c.signer)) {}

LifecycleRuntime::~LifecycleRuntime() = default;

// ---- public entry points ------------------------------------------------------------

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
  auto rt = ensureRuntime(ctx);
  rt->archive->startSweep();
  if (ctx->settings.pollPeriod.count() <= 0 || rt->poller) return;
  rt->poller = std::make_unique<LifecyclePoller>(*ctx, rt);
  rt->poller->start(std::chrono::duration_cast<std::chrono::milliseconds>(ctx->settings.pollPeriod));
  if (!rt->provider.configured()) reactor::logInfo("lifecycle poll idle: no media provider is configured");
}

}  // namespace recgw::handlers
