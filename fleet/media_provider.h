#pragma once
// The media provider: the service that records video rooms and uploads the files to our
// hot bucket. It lives in fleet/ because fleet/ holds the clients of the HTTP services
// recgw calls besides object storage (the fleet hosts, and this one); storage/ is S3 and
// MongoDB only. It knows nothing of routes or of our recordings collection.
//
// The provider API we rely on (tests/integration/fake_provider.py implements it):
//   GET  {base}/rooms/{provider_room_id}/recordings  → 200 {"recordings": [Recording, …]}
//   GET  {base}/recordings/{id}             → 200 Recording, 404 unknown
//   POST {base}/recordings/{id}/reprocess   → 2xx (body ignored); idempotent
//   Recording: {"id", "room_id", "status", "started_at", "stopped_at" (RFC 3339),
//               "duration_seconds", "size_bytes", "storage": {"provider", "bucket", "key"},
//               "error"}; unknown fields are ignored, absent or null ones stay unset.
//   Every request carries `Authorization: Bearer <token>`; the token is never logged.
//
// Failures: a 5xx or a connection failure is retried (settings.retries more times, with
// exponential backoff and jitter); a timeout is not (it already used the whole budget).
// What is left maps to 502 (provider_error) or 504 (provider_timeout), 404 for an unknown
// recording, 503 when no provider is configured (ProviderError). The reason (hosts, ports,
// the provider's status) is for the log; clients get the code and a fixed message.
//
// Rooms: the provider knows nothing of tenants, so callers name a room by an id unique
// across tenants (storage::providerRoomId), never by a tenant's bare room id.
//
// Loop thread only. Callbacks run later on the loop (never before the call returns),
// exactly once — unless the MediaProvider is destroyed first: then pending calls never
// call back. Transfers still in flight then end on their own and are ignored.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "reactor/curl_multi.h"
#include "reactor/event_loop.h"
#include "reactor/liveness.h"

namespace recgw::fleet {

struct MediaProviderSettings {
  std::string baseUrl;  // empty: no provider (every call answers kNotConfigured)
  std::string token;    // secret
  std::chrono::milliseconds connectTimeout{2000};
  std::chrono::milliseconds timeout{5000};  // request sent → response headers, and the stall limit
  int retries = 2;                          // extra attempts after a 5xx or a connection failure
  std::chrono::milliseconds backoff{200};   // before the first retry; doubled for each next one
  size_t maxBodyBytes = 1024 * 1024;
};

// A recording as the provider describes it; status is the provider's word, lower-cased.
struct ProviderRecording {
  std::string id;
  std::string roomId;
  std::string status;
  std::optional<std::chrono::system_clock::time_point> startedAt, stoppedAt;
  std::optional<double> durationSeconds;
  std::optional<int64_t> sizeBytes;
  std::string storageProvider, bucket, key;  // key empty: no object yet
  std::string error;
};

struct ProviderError {
  enum class Kind { kNone, kNotConfigured, kNotFound, kRejected, kBadGateway, kTimeout };
  Kind kind = Kind::kNone;
  long httpStatus = 0;  // the provider's last status, 0 when none came
  int attempts = 0;
  std::string reason;  // for logs only (it may name hosts and ports); never carries the token

  bool ok() const { return kind == Kind::kNone; }
  // What our client gets: 404, 503, 504, or 502 for everything else.
  int clientStatus() const;
  // The JSON error code to go with it.
  std::string_view clientCode() const;
  // A fixed message for the client: nothing of the reason.
  std::string_view clientMessage() const;
};

class MediaProvider {
 public:
  MediaProvider(reactor::EventLoop& loop, reactor::CurlMulti& curl, MediaProviderSettings settings);
  ~MediaProvider();
  MediaProvider(const MediaProvider&) = delete;
  MediaProvider& operator=(const MediaProvider&) = delete;

  bool configured() const { return !settings_.baseUrl.empty(); }
  size_t inFlight() const { return calls_.size(); }

  // providerRoomId: the room's name at the provider (storage::providerRoomId), not a tenant's room id.
  void listRoomRecordings(const std::string& providerRoomId,
                          std::function<void(ProviderError, std::vector<ProviderRecording>)> done);
  void getRecording(const std::string& providerId,
                    std::function<void(ProviderError, ProviderRecording)> done);
  void requestReprocess(const std::string& providerId, std::function<void(ProviderError)> done);

  // ---- pure helpers, exposed for tests ----
  // base (trailing '/' dropped) + "/" + each segment percent-encoded ('/' too).
  static std::string joinUrl(std::string_view base, std::initializer_list<std::string_view> segments);
  static bool parseRecording(std::string_view json, ProviderRecording& out, std::string& error);
  // {"recordings": [...]}, {"data": [...]} or a bare array.
  static bool parseRecordingList(std::string_view json, std::vector<ProviderRecording>& out,
                                 std::string& error);
  // curl's and CurlMulti's wording for a deadline that passed.
  static bool looksLikeTimeout(std::string_view transportError);
  // base * 2^retry, scaled by a jitter factor in [0.75, 1.25] from jitter01 in [0, 1].
  static std::chrono::milliseconds backoffDelay(std::chrono::milliseconds base, int retry, double jitter01);
  // What to do with one attempt's answer: retry, or finish with this error (kNone: success).
  struct AttemptVerdict {
    bool retry = false;
    ProviderError error;
  };
  static AttemptVerdict judgeAttempt(long status, const std::string& transportError, int attempt,
                                     int retries);

 private:
  struct Call;
  using Finish = std::function<void(ProviderError, const std::string& body)>;
  void call(std::string method, std::string url, Finish finish);
  void attempt(uint64_t callId);
  void attemptDone(uint64_t callId, const std::string& transportError);
  void complete(uint64_t callId, ProviderError error);

  reactor::EventLoop& loop_;
  reactor::CurlMulti& curl_;
  MediaProviderSettings settings_;
  uint64_t nextCallId_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Call>> calls_;
  // Callbacks hold a weak copy: once this object is gone, they find it expired.
  reactor::Liveness alive_;
};

}  // namespace recgw::fleet
