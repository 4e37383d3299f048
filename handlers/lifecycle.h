#pragma once
// The recording lifecycle of rooms (docs/architecture.md, "Rooms' recordings"): recordings a media provider
// makes of video rooms, tracked through recording → processing → ready → archived (or failed).
//
//   POST   /api/v1/rooms/{id}/recordings/start   200 the recording; 409 already recording; 404 room
//   POST   /api/v1/rooms/{id}/recordings/stop    200 → processing; 404 room or none active
//   POST   /api/v1/rooms/{id}/recordings/sync    200 {synced_count, recordings}; idempotent
//   GET    /api/v1/recordings?limit&offset       200 data + meta {total, limit, offset}; 422
//   GET    /api/v1/recordings/{id}               200 the recording with its room; rec_ ids only
//   GET    /api/v1/recordings/{id}/download      200 top level (no "data"): {recording_id,
//                                                download_url, status, duration, file_size,
//                                                provider, expires_at, expires_in} when ready,
//                                                else {recording_id, status, message};
//                                                502 stored outside the hot/archive bucket
//   POST   /api/v1/recordings/{id}/archive       200 archived; 400 unless ready and in hot
//                                                (provider "s3"/"r2"); 409 in progress
//   POST   /api/v1/recordings/{id}/recover       200 {id, status: processing, message}; 400
//                                                unless processing + provider id; 502 the
//                                                provider files it under another room
//   DELETE /api/v1/recordings/{id}               200 {id, deleted: true, deleted_at}
// Bodies are {"data": …} except download's; errors {"error", "message"}. A failing dependency
// (the provider, S3, MongoDB) or a stored location we refuse to sign answers a stable code, a
// fixed message and "request_id"; the detail (hosts, ports, S3's words, bucket names) is
// logged under it. The recording object carries every documented field (id, room_id, status,
// started_at, stopped_at, duration_seconds, size_bytes, created_at, …) and more (tenant_id,
// source, storage, provider_recording_id, ready_at, …). Durations (duration_seconds, and
// download's duration) are whole seconds, rounded to the nearest (halves away from zero:
// 1799.5 → 1800), null while unknown; what is stored (the provider's float, or stop's clock
// difference) is kept as it is and rounded only when written out (wholeSeconds).
//
// GET /api/v1/recordings/{id} is also the admin session stream (handlers/recordings.h). The
// path is split on the id alone, by a route guard, before any authentication: an id starting
// with "rec_" (storage::hasRecordingIdPrefix) is a rooms recording, answered here as JSON for
// any token of its tenant; every other id goes to the stream, which needs the admin role. The
// caller's token does not choose: an admin asking for a rec_ id gets the JSON, a tenant asking
// for a session id gets the stream's 403.
//
// Auth and tenant: any valid JWT (401 otherwise). The tenant is the token's account claim.
// `X-Account-ID` (README, "Auth") may name it too: it must equal the claim (403) unless the
// token is admin, in which case it picks the tenant to act for; an admin token without an
// account claim must send it (400). Another tenant's rooms and recordings answer 404, the
// same as unknown ids, so ids are not confirmed.
//
// The workflows (start, stop, sync, archive, recover, download's decision, the background
// poll) live in lifecycle/lifecycle_service.h; this file parses the requests, authorizes
// them and maps the service's outcomes to HTTP.
//
// Loop thread only.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handlers/jwt_verifier.h"
#include "handlers/recordings.h"
#include "lifecycle/runtime.h"
#include "lifecycle/settings.h"
#include "reactor/curl_multi.h"
#include "reactor/event_loop.h"
#include "reactor/http_server.h"
#include "reactor/json_writer.h"
#include "reactor/metrics.h"
#include "storage/mongo_client.h"
#include "storage/recording_store.h"

namespace recgw::handlers {

using lifecycle::LifecycleSettings;
using lifecycle::S3ServiceSettings;

struct LifecycleContext {
  storage::MongoClient* mongo = nullptr;  // db from the Mongo URI
  reactor::CurlMulti* curl = nullptr;
  StorageSigner* signer = nullptr;   // the hot bucket's settings and signer
  const JwtVerifier* jwt = nullptr;  // null: every route answers 401
  reactor::EventLoop* loop = nullptr;
  reactor::Metrics* metrics = nullptr;
  LifecycleSettings settings;
  // Told the storage key of a recording archived or deleted (the object cache drops it);
  // may be empty.
  std::function<void(const std::string& storageKey)> objectGone;
  // Made by registerLifecycleRoutes (or startLifecyclePoller) from the fields above, which
  // must not change afterwards. Destroying the context stops the poll; requests and
  // transfers still in flight then finish without effect.
  std::shared_ptr<lifecycle::Lifecycle> runtime;
};

// Every route above; GET/HEAD /api/v1/recordings/{id} only for rec_ ids (a guarded route,
// so the order against registerRecordingRoutes does not matter).
void registerLifecycleRoutes(reactor::HttpServer& server, std::shared_ptr<LifecycleContext> ctx);

// Starts the background poll (lifecycle/poller.h: every settings.pollPeriod; a pass never
// overlaps the previous one) and the archive sweep. Call once per worker process after
// registerLifecycleRoutes.
// The poll lives as long as ctx; with several workers each polls (updates are conditional,
// so they never conflict).
void startLifecyclePoller(const std::shared_ptr<LifecycleContext>& ctx);

// ---- pure helpers, exposed for tests ------------------------------------------------

inline constexpr int64_t kDefaultPageLimit = 20;
inline constexpr int64_t kMaxPageLimit = 100;

struct Paging {
  int64_t limit = kDefaultPageLimit;
  int64_t offset = 0;
  std::string error;  // non-empty: answer 422 with it
};
// From the raw query string: limit (1..; above 100 capped), offset (0..); anything else,
// including an empty value, is an error.
Paging parsePaging(std::string_view query);

struct TenantChoice {
  std::string tenant;
  int status = 0;  // 0: ok; else 400/403 with code and message
  std::string code;
  std::string message;
};
// The account a tenant route acts on: X-Account-ID if given, else the token's account. Only a
// platform admin may name another account; any other token, an admin of its own account
// included, is bound to its account claim (403 otherwise, 403 without one).
TenantChoice chooseTenant(const JwtClaims& claims, const char* accountHeader);

// A duration as the API shows it: whole seconds, the nearest (halves away from zero);
// nullopt (JSON null) when unknown, negative, not finite or beyond 2^53.
std::optional<int64_t> wholeSeconds(std::optional<double> seconds);

// "2025-01-02T03:04:05.678Z"
std::string formatInstant(std::chrono::system_clock::time_point t);

// The recording as the API shows it; with `room` when given (null when it is nullopt).
void writeRecording(reactor::JsonWriter& w, const storage::Recording& r,
                    const std::optional<std::optional<storage::Room>>& room = std::nullopt);

}  // namespace recgw::handlers
