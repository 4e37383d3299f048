#include "lifecycle/lifecycle_service.h"

#include <utility>

#include "storage/s3_addressing.h"

namespace recgw::lifecycle {

// ---- pure helpers -------------------------------------------------------------------

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

tl::unexpected<Problem> storeProblem(const StoreResult& r) {
  switch (r.outcome) {
    case StoreOutcome::kNoRoom:
      return problem(Problem::Kind::kNoRoom);
    case StoreOutcome::kNotFound:
      return problem(Problem::Kind::kNotFound);
    case StoreOutcome::kConflict: {
      auto p = problem(Problem::Kind::kConflict);
      p.value().current = r.recording;
      return p;
    }
    case StoreOutcome::kUnavailable:
      return problem(Problem::Kind::kStoreUnavailable, r.error);
    case StoreOutcome::kOk:
      break;
  }
  return problem(Problem::Kind::kInternal, "a store success reported as a failure");
}

namespace {

tl::unexpected<Problem> problemWith(Problem::Kind kind, const Recording& rec) {
  auto p = problem(kind);
  p.value().current = rec;
  p.value().recordingId = rec.id;
  return p;
}

tl::unexpected<Problem> providerProblem(Problem::Kind kind, const fleet::ProviderError& err,
                                        std::string recordingId = {}) {
  auto p = problem(kind, err.reason);
  p.value().provider = err;
  p.value().recordingId = std::move(recordingId);
  return p;
}

}  // namespace

// ---- the service --------------------------------------------------------------------

LifecycleService::LifecycleService(RecordingRepository& store, MediaProviderPort& provider,
                                   ArchiveStorage& archive, const LifecycleSettings& settings,
                                   reactor::Metrics* metrics)
    : store_(store), provider_(provider), archive_(archive), settings_(settings), metrics_(metrics) {
  if (metrics_) {
    using T = reactor::Metrics::Type;
    metrics_->describe("recgw_lifecycle_transitions_total", T::kCounter,
                       "Recording state changes, by from and to");
    metrics_->describe("recgw_lifecycle_archive_total", T::kCounter, "Archive requests, by outcome");
    metrics_->describe("recgw_lifecycle_provider_calls_total", T::kCounter,
                       "Media provider calls, by op and outcome");
    metrics_->describe("recgw_lifecycle_poll_passes_total", T::kCounter,
                       "Background poll passes, by outcome");
  }
}

LifecycleService::~LifecycleService() = default;

void LifecycleService::count(std::string_view name, std::string_view key, std::string_view value) {
  if (metrics_) metrics_->inc(name, reactor::Metrics::label(key, value));
}

// Logs a state change and counts it (recgw_lifecycle_transitions_total).
void LifecycleService::noteTransition(std::string_view requestId, const Recording& r, std::string_view from,
                                      std::string_view to, std::string_view by) {
  reactor::Logger::log(reactor::LogLevel::kInfo, requestId, "recording state changed",
                       {{"recording_id", r.id},
                        {"tenant", r.tenantId},
                        {"room_id", r.roomId},
                        {"from", from},
                        {"to", to},
                        {"by", by}});
  if (metrics_) {
    metrics_->inc("recgw_lifecycle_transitions_total",
                  reactor::Metrics::label("from", from) + "," + reactor::Metrics::label("to", to));
  }
}

// Logs (and counts) a linked provider recording that the provider files under a room that is
// not provably this recording's: it is left alone (see storage::linkedProviderRoomAccepted).
void LifecycleService::noteUnboundProviderRecording(std::string_view requestId, const Recording& r,
                                                    std::string_view providerRoom, std::string_view by) {
  reactor::Logger::log(reactor::LogLevel::kWarn, requestId, "provider recording not bound to this room",
                       {{"recording_id", r.id},
                        {"tenant", r.tenantId},
                        {"room_id", r.roomId},
                        {"provider_recording_id", r.providerRecordingId},
                        {"provider_room_id", providerRoom},
                        {"by", by}});
  count("recgw_lifecycle_provider_calls_total", "op", "not_bound");
}

void LifecycleService::start(const Caller& caller, const std::string& roomId, Reply<Recording> done) {
  std::string id = storage::newRecordingId();
  auto now = Clock::now();
  store_.start(caller.tenant, roomId, id, now, guard(done, [this, caller, done](StoreResult r) {
                 if (r.outcome == StoreOutcome::kConflict) {
                   auto p = problem(Problem::Kind::kAlreadyRecording);
                   p.value().current = r.recording;
                   return done(std::move(p));
                 }
                 if (!r.ok()) return done(storeProblem(r));
                 noteTransition(caller.requestId, *r.recording, "none", "recording", "start");
                 done(std::move(*r.recording));
               }));
}

void LifecycleService::stop(const Caller& caller, const std::string& roomId, Reply<Recording> done) {
  store_.stop(caller.tenant, roomId, Clock::now(), guard(done, [this, caller, done](StoreResult r) {
                if (!r.ok()) return done(storeProblem(r));
                noteTransition(caller.requestId, *r.recording, "recording", "processing", "stop");
                done(std::move(*r.recording));
              }));
}

void LifecycleService::sync(const Caller& caller, const std::string& roomId,
                            Reply<std::vector<Recording>> done) {
  if (!provider_.configured()) return done(problem(Problem::Kind::kProviderNotConfigured));
  // The room first: another tenant's room must not even cause a provider call.
  store_.findRoom(caller.tenant, roomId, guard(done, [this, caller, roomId, done](StoreResult r) {
                    if (caller.gone()) return;
                    if (!r.ok()) return done(storeProblem(r));
                    syncWithProvider(caller, roomId, done);
                  }));
}

void LifecycleService::syncWithProvider(const Caller& caller, const std::string& roomId,
                                        Reply<std::vector<Recording>> done) {
  // Never the bare room id: another tenant may have a room of the same id.
  std::string providerRoom = storage::providerRoomId(caller.tenant, roomId);
  provider_.listRoomRecordings(
      providerRoom, guard(done, [this, caller, roomId, done](fleet::ProviderError err,
                                                             std::vector<fleet::ProviderRecording> list) {
        count("recgw_lifecycle_provider_calls_total", "op", err.ok() ? "list_ok" : "list_failed");
        if (caller.gone()) return;
        // A room the provider never saw has no recordings there.
        if (!err.ok() && err.kind != fleet::ProviderError::Kind::kNotFound)
          return done(providerProblem(Problem::Kind::kProviderFailed, err));
        std::vector<storage::ProviderSnapshot> snapshots;
        for (const auto& p : list) snapshots.push_back(snapshotFrom(p));
        store_.sync(caller.tenant, roomId, snapshots, settings_.linkWindow, true, true, Clock::now(),
                    guard(done, [caller, done](storage::SyncResult s) {
                      if (s.outcome != StoreOutcome::kOk)
                        return done(storeProblem({s.outcome, {}, {}, s.error}));
                      for (const auto& id : s.refused) {
                        reactor::Logger::log(reactor::LogLevel::kWarn, caller.requestId,
                                             "provider recording listed under another room; not synced",
                                             {{"provider_recording_id", id}});
                      }
                      for (const auto& r : s.synced) {
                        reactor::Logger::log(reactor::LogLevel::kInfo, caller.requestId, "recording synced",
                                             {{"recording_id", r.id},
                                              {"provider_recording_id", r.providerRecordingId},
                                              {"source", r.source},
                                              {"status", storage::statusName(r.status)}});
                      }
                      done(std::move(s.synced));
                    }));
      }));
}

// Reprocessing is asked for only after the provider confirms the recording is filed under
// this tenant's room (storage::linkedProviderRoomAccepted): a link made before room names
// were scoped may point at another tenant's recording.
void LifecycleService::recover(const Caller& caller, const std::string& id, Reply<Recording> done) {
  store_.recoverTarget(
      caller.tenant, id, guard(done, [this, caller, done](RecoverTarget target) {
        if (caller.gone()) return;
        if (!target.found.ok()) return done(storeProblem(target.found));
        const Recording& rec = *target.found.recording;
        if (rec.status != RecordingStatus::kProcessing)
          return done(problemWith(Problem::Kind::kInvalidState, rec));
        if (rec.providerRecordingId.empty())
          return done(problemWith(Problem::Kind::kNoProviderRecording, rec));
        if (!provider_.configured()) return done(problem(Problem::Kind::kProviderNotConfigured));
        bool shared = target.roomIdShared;
        provider_.getRecording(
            rec.providerRecordingId, guard(done, [this, caller, rec, shared, done](
                                                     fleet::ProviderError err, fleet::ProviderRecording p) {
              count("recgw_lifecycle_provider_calls_total", "op", err.ok() ? "get_ok" : "get_failed");
              if (caller.gone()) return;
              if (err.kind == fleet::ProviderError::Kind::kNotFound)
                return done(providerProblem(Problem::Kind::kProviderLostRecording, err, rec.id));
              if (!err.ok()) return done(providerProblem(Problem::Kind::kProviderFailed, err, rec.id));
              auto binding = storage::bindProviderRoom(p.roomId, rec.tenantId, rec.roomId);
              if (!storage::linkedProviderRoomAccepted(binding, shared)) {
                noteUnboundProviderRecording(caller.requestId, rec, p.roomId, "recover");
                auto mismatch = problem(Problem::Kind::kProviderRoomMismatch,
                                        "provider recording filed under room " + p.roomId);
                mismatch.value().recordingId = rec.id;
                return done(std::move(mismatch));
              }
              requestReprocess(caller, rec, done);
            }));
      }));
}

void LifecycleService::requestReprocess(const Caller& caller, const Recording& rec, Reply<Recording> done) {
  std::string id = rec.id;
  provider_.requestReprocess(
      rec.providerRecordingId, guard(done, [this, caller, id, done](fleet::ProviderError err) {
        count("recgw_lifecycle_provider_calls_total", "op", err.ok() ? "reprocess_ok" : "reprocess_failed");
        if (caller.gone()) return;
        if (err.kind == fleet::ProviderError::Kind::kNotFound)
          return done(providerProblem(Problem::Kind::kProviderLostRecording, err, id));
        if (!err.ok()) return done(providerProblem(Problem::Kind::kProviderFailed, err, id));
        auto now = Clock::now();
        storage::TransitionUpdate u;
        u.recoverRequestedAt = now;
        store_.transition(caller.tenant, id, RecordingStatus::kProcessing, u, now,
                          guard(done, [caller, done](StoreResult r) {
                            if (!r.ok()) return done(storeProblem(r));
                            reactor::Logger::log(
                                reactor::LogLevel::kInfo, caller.requestId, "recording reprocess requested",
                                {{"recording_id", r.recording->id},
                                 {"provider_recording_id", r.recording->providerRecordingId}});
                            done(std::move(*r.recording));
                          }));
      }));
}

void LifecycleService::get(const Caller& caller, const std::string& id, Reply<RecordingWithRoom> done) {
  store_.get(caller.tenant, id, true, guard(done, [done](StoreResult r) {
               if (!r.ok()) return done(storeProblem(r));
               done(RecordingWithRoom{std::move(*r.recording), std::move(r.room)});
             }));
}

void LifecycleService::list(const Caller& caller, int64_t limit, int64_t offset, Reply<RecordingList> done) {
  store_.list(caller.tenant, limit, offset, guard(done, [done](storage::RecordingPage page) {
                if (!page.error.empty()) return done(problem(Problem::Kind::kStoreUnavailable, page.error));
                done(RecordingList{std::move(page.items), page.total});
              }));
}

void LifecycleService::remove(const Caller& caller, const std::string& id, Reply<Recording> done) {
  store_.softDelete(caller.tenant, id, Clock::now(), guard(done, [caller, done](StoreResult r) {
                      if (!r.ok()) return done(storeProblem(r));
                      reactor::Logger::log(
                          reactor::LogLevel::kInfo, caller.requestId, "recording deleted (soft)",
                          {{"recording_id", r.recording->id}, {"tenant", r.recording->tenantId}});
                      done(std::move(*r.recording));
                    }));
}

void LifecycleService::download(const Caller& caller, const std::string& id, Reply<Download> done) {
  store_.get(
      caller.tenant, id, false, guard(done, [this, done](StoreResult r) {
        if (!r.ok()) return done(storeProblem(r));
        Download out{std::move(*r.recording), {}, {}, {}, 0};
        const Recording& rec = out.recording;
        auto notReady = [&](std::string text) {
          out.notReady = std::move(text);
          done(std::move(out));
        };
        switch (rec.status) {
          case RecordingStatus::kRecording:
            return notReady("Recording is still in progress. Stop it, then try again once it is processed.");
          case RecordingStatus::kProcessing:
            return notReady(std::string(kDownloadProcessingMessage));
          case RecordingStatus::kFailed:
            return notReady("Recording failed: " + rec.failureReason);
          case RecordingStatus::kArchived:
            if (rec.storage && !storage::storageClassAllowsGet(rec.storage->storageClass)) {
              return notReady("Recording is archived in " + rec.storage->storageClass +
                              " and must be restored before it can be downloaded.");
            }
            break;
          case RecordingStatus::kReady:
            break;
        }
        if (!rec.storage) return notReady("Recording has no stored object.");
        const std::string& bucket = rec.storage->bucket;
        // The location may come from the provider, and a presigned URL lends our credentials to
        // whatever bucket it names: only the hot and the archive bucket are signed for, each
        // with its own service's credentials.
        auto store = archive_.storeForBucket(bucket);
        if (!store) {
          auto p = problem(Problem::Kind::kLocationRefused, "download refused: bucket " + bucket +
                                                                " is neither the hot nor the archive bucket");
          p.value().recordingId = rec.id;
          return done(std::move(p));
        }
        if (!store->signer) return done(problem(Problem::Kind::kStorageNotConfigured));
        int64_t ttl = settings_.downloadUrlTtl.count();
        auto now = Clock::now();
        storage::PresignedUrl url =
            store->signer->presign("GET", storage::objectTarget(store->location, rec.storage->key), ttl, now);
        if (!url.ok()) {
          auto p = problem(Problem::Kind::kSignFailed, "presign failed: " + url.error);
          p.value().recordingId = rec.id;
          return done(std::move(p));
        }
        out.url = std::move(url.url);
        out.expiresAt = now + std::chrono::seconds(ttl);
        out.expiresIn = ttl;
        done(std::move(out));
      }));
}

}  // namespace recgw::lifecycle
