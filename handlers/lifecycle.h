#pragma once
// The recording lifecycle of rooms (SPEC §2.5): recordings a media provider makes of video
// rooms, tracked through recording → processing → ready → archived (or failed).
//
//   POST   /api/v1/rooms/{room_id}/recordings/start  200; 409 already recording; 404 room
//   POST   /api/v1/rooms/{room_id}/recordings/stop   200 → processing; 404 room or none active
//   POST   /api/v1/rooms/{room_id}/recordings/sync   200 {synced_count, recordings}; idempotent
//   GET    /api/v1/recordings?limit&offset           200 data + meta {total, limit, offset}; 422
//   GET    /api/v1/recordings/{rec_…}                200 with its room (handleLifecycleGet)
//   GET    /api/v1/recordings/{recording_id}/download   200 presigned URL when ready, else why not;
//                                                      502 stored outside the hot/archive bucket
//   POST   /api/v1/recordings/{recording_id}/archive    200 archived; 400 unless ready and in hot
//   POST   /api/v1/recordings/{recording_id}/recover    202; 400 unless processing + provider id;
//                                                      502 the provider files it under another room
//   DELETE /api/v1/recordings/{rec_…}                200 {id, deleted: true, deleted_at}
// Bodies are {"data": …}; errors {"error", "message"}. A failing dependency (the provider,
// S3, MongoDB) or a stored location we refuse to sign answers a stable code, a fixed message
// and "request_id"; the detail (hosts, ports, S3's words, bucket names) is logged under it.
//
// Auth and tenant: any valid JWT (401 otherwise). The tenant is the token's account claim.
// `X-Account-ID` (SPEC §2.3) may name it too: it must equal the claim (403) unless the
// token is admin, in which case it picks the tenant to act for; an admin token without an
// account claim must send it (400). Another tenant's rooms and recordings answer 404, the
// same as unknown ids, so ids are not confirmed.
//
// Archive is crash-safe: HEAD hot → CopyObject to the archive bucket and storage class →
// HEAD the copy (size, and ETag when both are single-part, and storage class) → DELETE the
// hot copy → state `archived` (one conditional update, last). A rerun after a crash at any
// step finishes the job: an object already gone from hot but present in the archive (with
// the recorded size) only needs the state.
//
// Tenants and the provider: room ids are unique per tenant only, and the provider knows
// nothing of tenants, so it is asked about a room by storage::providerRoomId(tenant, room)
// ("<length of tenant>:<tenant>:<room>"), and only recordings it files under exactly that
// name are linked or imported. A linked recording moves on (poll) or is reprocessed
// (recover) only while the provider still files it under that name, under none, or under
// the bare room id of a room no other tenant has (links made before the names were scoped);
// otherwise it is left alone and logged. Download signs for the hot and the archive bucket
// only, whatever bucket the provider named.
//
// Provider recordings are tied to ours by provider_recording_id. Sync links a provider
// recording to a local recording of the room without one (started within link_window of
// it) or imports it; the background poll (startLifecyclePoller) asks the provider about
// every linked recording still recording or processing and moves it on (processing with
// stopped_at; ready with size, duration and storage; failed with the reason), and links
// local recordings that have no provider id yet (it never imports).
//
// Loop thread only. MongoDB work runs on the worker pool, S3 and the provider on curl-multi.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handlers/jwt_verifier.h"
#include "handlers/recordings.h"
#include "reactor/curl_multi.h"
#include "reactor/event_loop.h"
#include "reactor/http_server.h"
#include "reactor/json_writer.h"
#include "reactor/metrics.h"
#include "storage/mongo_client.h"
#include "storage/recording_store.h"
#include "storage/s3_objects.h"

namespace recgw::handlers {

// Config section [lifecycle]; env RECGW_LIFECYCLE_<KEY> (key in brackets). Defaults are the
// production ones.
struct LifecycleSettings {
  // [rooms_collection] [recordings_collection]; [transitions_collection]: exit claims and
  // audit log (storage/recording_store.h).
  std::string roomsCollection = "rooms";
  std::string recordingsCollection = "recordings";
  std::string transitionsCollection = "recording_transitions";
  // [archive_bucket]: same endpoint and credentials as the hot bucket; empty: archive 503.
  std::string archiveBucket;
  // [archive_storage_class]: sent as x-amz-storage-class; empty: the bucket's default.
  std::string archiveStorageClass = "GLACIER_IR";
  // [provider_url] [provider_token (secret)]: empty URL: sync/recover 503, no poll.
  std::string providerUrl;
  std::string providerToken;
  // [provider_connect_timeout_ms] [provider_timeout_ms]: request sent → response headers.
  std::chrono::milliseconds providerConnectTimeout{2000};
  std::chrono::milliseconds providerTimeout{5000};
  // [provider_retries]: after a 5xx or a refused connection; [provider_backoff_ms]: before
  // the first retry, doubled for each next one (±25% jitter).
  int providerRetries = 2;
  std::chrono::milliseconds providerBackoff{200};
  // [poll_period_s]: 0 = no background poll; [poll_batch]: recordings asked about per pass.
  std::chrono::seconds pollPeriod{30};
  int pollBatch = 50;
  // [link_window_s]: how far apart a provider recording's start and ours may be to link.
  std::chrono::seconds linkWindow{120};
  // [download_url_ttl_s]: 1..604800.
  std::chrono::seconds downloadUrlTtl{3600};
  // [s3_timeout_ms]: HEAD, CopyObject, DELETE (to response headers, and the stall limit).
  std::chrono::milliseconds s3Timeout{60000};
};

struct LifecycleRuntime;  // store, provider client, S3 helper, poller: built in lifecycle.cc

struct LifecycleContext {
  storage::MongoClient* mongo = nullptr;  // db from the Mongo URI
  reactor::CurlMulti* curl = nullptr;
  StorageSigner* signer = nullptr;   // the hot bucket's settings and signer
  const JwtVerifier* jwt = nullptr;  // null: every route answers 401
  reactor::EventLoop* loop = nullptr;
  reactor::Metrics* metrics = nullptr;
  LifecycleSettings settings;
  // Made by registerLifecycleRoutes (or startLifecyclePoller) from the fields above, which
  // must not change afterwards. Destroying the context stops the poll; requests and
  // transfers still in flight then finish without effect.
  std::shared_ptr<LifecycleRuntime> runtime;
};

// Everything but GET /api/v1/recordings/{id}, which the session stream route owns.
void registerLifecycleRoutes(reactor::HttpServer& server, std::shared_ptr<LifecycleContext> ctx);

// GET/HEAD /api/v1/recordings/{id} for ids starting with "rec_": always answers (200, 401,
// 403, 404, 503). The stream route calls it first for such ids and returns.
void handleLifecycleGet(reactor::HttpExchange& ex, const std::shared_ptr<LifecycleContext>& ctx,
                        const std::string& id);

// Starts the background poll (a reactor::Timer every settings.pollPeriod; a pass never
// overlaps the previous one). Call once per worker process after registerLifecycleRoutes.
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

// The provider's status word → ours; nullopt for words we do not know.
std::optional<storage::RecordingStatus> mapProviderStatus(std::string_view providerStatus);

// "2025-01-02T03:04:05.678Z"
std::string formatInstant(std::chrono::system_clock::time_point t);

// The recording as the API shows it; with `room` when given (null when it is nullopt).
void writeRecording(reactor::JsonWriter& w, const storage::Recording& r,
                    const std::optional<std::optional<storage::Room>>& room = std::nullopt);

}  // namespace recgw::handlers
