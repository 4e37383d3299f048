#pragma once
// The recording lifecycle of rooms: recordings a media provider makes of video rooms,
// tracked through recording → processing → ready → archived (or failed). The workflows
// live here, over the ports of lifecycle/ports.h; handlers/lifecycle.cc parses the
// requests, authorizes them and maps the outcomes to HTTP, and lifecycle/poller.h drives
// the background poll through the same service.
//
//   start    a new recording of the tenant's room (one active per room)
//   stop     the room's recording → processing, with stopped_at and its duration
//   sync     the provider's recordings of the room linked to ours or imported
//   archive  a ready recording's object moved to the archive, then → archived
//   recover  a processing recording reprocessed by the provider
//   get, list, remove (soft delete), download (a presigned URL, or why not yet)
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
// it) or imports it; the background poll asks the provider about every linked recording
// still recording or processing and moves it on (processing with stopped_at; ready with
// size, duration and storage; failed with the reason), and links local recordings that have
// no provider id yet (it never imports).
//
// Archive is crash-safe: HEAD hot → CopyObject to the archive bucket and storage class →
// HEAD the copy → DELETE the hot copy → state `archived` (one conditional update, last). A
// rerun after a crash at any step finishes the job. When the hot store and the archive are
// two services the copy is a streamed multipart upload instead, journaled and resumable
// (lifecycle/archive_storage.h, storage/archive_mover.h). The move goes on when the caller
// leaves: the state is set all the same.
//
// Every workflow logs under the caller's request id, counts its metrics
// (recgw_lifecycle_*), and answers once through its callback on the loop thread, unless the
// service is destroyed first (then pending answers are dropped). Loop thread only.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lifecycle/outcome.h"
#include "lifecycle/ports.h"
#include "lifecycle/settings.h"
#include "reactor/liveness.h"
#include "reactor/logger.h"
#include "reactor/metrics.h"
#include "reactor/status.h"

namespace recgw::lifecycle {

// Who asks: the tenant acted for, and the request id the logs are filed under.
struct Caller {
  std::string tenant;
  std::string requestId;
  // Whether the caller still waits for the answer (null: always). Sync, recover and archive
  // check it between their steps and stop, without answering, when it no longer does: a
  // sync or a reprocess nobody waits for is not carried on. An archive whose move has
  // started goes on regardless (see above).
  std::function<bool()> waiting;
  bool gone() const { return waiting && !waiting(); }
};

template <typename T>
using Reply = std::function<void(Outcome<T>)>;

// A recording and its room (nullopt: the room is gone).
struct RecordingWithRoom {
  Recording recording;
  std::optional<storage::Room> room;
};

struct RecordingList {
  std::vector<Recording> items;
  int64_t total = 0;
};

// What download answers: a presigned URL, or (`notReady` set) why there is none yet.
struct Download {
  Recording recording;
  std::optional<std::string> notReady;
  std::string url;
  Clock::time_point expiresAt{};
  int64_t expiresIn = 0;  // seconds
};

// download's message while the recording is processing, and recover's.
inline constexpr std::string_view kDownloadProcessingMessage =
    "Recording is still being processed. Please try again later.";
inline constexpr std::string_view kRecoverMessage = "Recovery initiated. Recording will be reprocessed.";

class LifecycleService {
 public:
  LifecycleService(RecordingRepository& store, MediaProviderPort& provider, ArchiveStorage& archive,
                   const LifecycleSettings& settings, reactor::Metrics* metrics);
  ~LifecycleService();
  LifecycleService(const LifecycleService&) = delete;
  LifecycleService& operator=(const LifecycleService&) = delete;

  bool providerConfigured() const { return provider_.configured(); }

  // kNoRoom, kAlreadyRecording, kStoreUnavailable.
  void start(const Caller& caller, const std::string& roomId, Reply<Recording> done);
  // kNoRoom, kNotFound (nothing recording), kStoreUnavailable.
  void stop(const Caller& caller, const std::string& roomId, Reply<Recording> done);
  // The recordings linked or imported. kProviderNotConfigured (before anything else),
  // kNoRoom (before the provider is asked), kProviderFailed, kStoreUnavailable.
  void sync(const Caller& caller, const std::string& roomId, Reply<std::vector<Recording>> done);
  // The archived recording. kNotFound, kInvalidState (not ready), kArchiveRefused,
  // kArchiveNotMoved (the recording is unchanged: a retry may succeed), kConflict,
  // kStoreUnavailable.
  void archive(const Caller& caller, const std::string& id, Reply<Recording> done);
  // The recording with recover_requested_at. kNotFound, kInvalidState (not processing),
  // kNoProviderRecording, kProviderNotConfigured, kProviderLostRecording, kProviderFailed,
  // kProviderRoomMismatch, kStoreUnavailable.
  void recover(const Caller& caller, const std::string& id, Reply<Recording> done);

  void get(const Caller& caller, const std::string& id, Reply<RecordingWithRoom> done);
  void list(const Caller& caller, int64_t limit, int64_t offset, Reply<RecordingList> done);
  // The deleted recording (deleted_at set). kNotFound, kStoreUnavailable.
  void remove(const Caller& caller, const std::string& id, Reply<Recording> done);
  // kNotFound, kLocationRefused, kStorageNotConfigured, kSignFailed, kStoreUnavailable.
  void download(const Caller& caller, const std::string& id, Reply<Download> done);

  // ---- the background poll's steps (lifecycle/poller.h) ------------------------------

  // A batch of recordings to ask the provider about (see RecordingStore::pollBatch).
  void pollCandidates(bool linked, const std::string& afterId, int64_t limit,
                      Callback<storage::RecordingPage> done);
  // Asks the provider about a linked recording and applies the transitions its answer
  // implies, unless the provider files it under a room that is not provably its own (then
  // logged and left alone). `done` when finished, whatever happened.
  // `done` gets a failure only when a step threw.
  void followProvider(const Recording& rec, std::function<void(Status)> done);
  // Lists a room at the provider and links its local recordings that have no provider id
  // yet (never imports). `done` when finished, whatever happened.
  void linkRoom(const std::string& tenant, const std::string& roomId, std::function<void(Status)> done);

  // Counts a metric with one label (a no-op without metrics).
  void count(std::string_view name, std::string_view key, std::string_view value);

 private:
  template <typename T, typename F>
  auto guard(Reply<T> done, F f);
  template <typename F>
  auto guardStatus(std::function<void(Status)> done, F f);
  template <typename F, typename Failed>
  auto continuation(F f, Failed failed);

  void syncWithProvider(const Caller& caller, const std::string& roomId, Reply<std::vector<Recording>> done);
  void requestReprocess(const Caller& caller, const Recording& rec, Reply<Recording> done);
  void archiveMove(const Caller& caller, const Recording& rec, Reply<Recording> done);
  void archiveSetState(const Caller& caller, const Recording& rec, storage::StoredObject archived,
                       Reply<Recording> done);
  void noteTransition(std::string_view requestId, const Recording& r, std::string_view from,
                      std::string_view to, std::string_view by);
  void noteUnboundProviderRecording(std::string_view requestId, const Recording& r,
                                    std::string_view providerRoom, std::string_view by);

  RecordingRepository& store_;
  MediaProviderPort& provider_;
  ArchiveStorage& archive_;
  const LifecycleSettings& settings_;
  reactor::Metrics* metrics_;
  reactor::Liveness alive_;
};

// Continuations of a workflow: dropped once the service is gone; a step that throws
// (anything at all) fails its workflow through `failed` instead: nothing may escape into
// libcurl or libevent.
template <typename F, typename Failed>
auto LifecycleService::continuation(F f, Failed failed) {
  reactor::LivenessWatch alive = alive_;
  return [alive, f = std::move(f), failed = std::move(failed)](auto&&... args) mutable {
    if (alive.expired()) return;
    std::string why;
    try {
      f(std::forward<decltype(args)>(args)...);
      return;
    } catch (const std::exception& e) {
      why = e.what();
    } catch (...) {
      why = "an exception that is not a std::exception";
    }
    reactor::logError("lifecycle step failed", {{"error", why}});
    failed(why);
  };
}

template <typename T, typename F>
auto LifecycleService::guard(Reply<T> done, F f) {
  return continuation(std::move(f),
                      [done](const std::string& why) { done(problem(Problem::Kind::kInternal, why)); });
}

template <typename F>
auto LifecycleService::guardStatus(std::function<void(Status)> done, F f) {
  return continuation(std::move(f), [done](const std::string& why) { done(fail(why)); });
}

// ---- pure helpers, exposed for tests ------------------------------------------------

// The provider's status word → ours; nullopt for words we do not know.
std::optional<RecordingStatus> mapProviderStatus(std::string_view providerStatus);
// The provider's view of a recording in the store's terms.
storage::ProviderSnapshot snapshotFrom(const fleet::ProviderRecording& p);
// The updates that bring `rec` along `steps` (storage::stepsToward) to what `snap` reports.
std::vector<storage::TransitionUpdate> updatesToward(const Recording& rec,
                                                     const storage::ProviderSnapshot& snap,
                                                     const std::vector<RecordingStatus>& steps,
                                                     Clock::time_point now);
// The metric outcome (and the code the API answers) of an archive move that failed.
std::string_view archiveFailureName(storage::ArchiveMove::Kind kind);

}  // namespace recgw::lifecycle
