// The background poll's steps in LifecycleService (lifecycle/poller.h schedules them).
#include "lifecycle/lifecycle_service.h"

namespace recgw::lifecycle {

std::vector<storage::TransitionUpdate> updatesToward(const Recording& rec,
                                                     const storage::ProviderSnapshot& snap,
                                                     const std::vector<RecordingStatus>& steps,
                                                     Clock::time_point now) {
  std::vector<storage::TransitionUpdate> updates;
  for (RecordingStatus to : steps) {
    storage::TransitionUpdate u;
    u.to = to;
    if (to == RecordingStatus::kProcessing && !rec.stoppedAt) {
      u.stoppedAt = snap.stoppedAt.value_or(now);
      if (snap.durationSeconds) u.durationSeconds = snap.durationSeconds;
    }
    if (to == RecordingStatus::kReady) {
      u.readyAt = now;
      u.storage = snap.storage;
      u.sizeBytes = snap.sizeBytes;
      if (snap.durationSeconds) u.durationSeconds = snap.durationSeconds;
      if (!rec.stoppedAt && snap.stoppedAt) u.stoppedAt = snap.stoppedAt;
    }
    if (to == RecordingStatus::kFailed) u.failureReason = snap.failureReason;
    updates.push_back(std::move(u));
  }
  return updates;
}

void LifecycleService::pollCandidates(bool linked, const std::string& afterId, int64_t limit,
                                      Callback<storage::RecordingPage> done) {
  reactor::LivenessWatch alive = alive_;
  store_.pollBatch(linked, afterId, limit, [alive, done](storage::RecordingPage page) {
    if (!alive.expired()) done(std::move(page));
  });
}

void LifecycleService::followProvider(const Recording& rec, std::function<void(Status)> done) {
  provider_.getRecording(
      rec.providerRecordingId,
      guardStatus(done, [this, rec, done](fleet::ProviderError err, fleet::ProviderRecording p) {
        count("recgw_lifecycle_provider_calls_total", "op", err.ok() ? "get_ok" : "get_failed");
        if (!err.ok()) return done(ok());
        storage::ProviderSnapshot snap = snapshotFrom(p);
        auto steps = storage::stepsToward(rec.status, snap.status, snap.storage.has_value());
        if (steps.empty()) return done(ok());
        auto binding = storage::bindProviderRoom(snap.roomId, rec.tenantId, rec.roomId);
        auto now = Clock::now();
        store_.advance(rec, binding, updatesToward(rec, snap, steps, now), now,
                       guardStatus(done, [this, rec, snap, done](Advanced a) {
                         if (a.notBound) {
                           // Linked before rooms were named per tenant, in a room id another tenant
                           // has too (or the provider moved it): whose it is cannot be told; left
                           // for an operator.
                           noteUnboundProviderRecording({}, rec, snap.roomId, "poll");
                           return done(ok());
                         }
                         RecordingStatus from = rec.status;
                         for (RecordingStatus to : a.steps) {
                           noteTransition({}, a.last.recording ? *a.last.recording : rec,
                                          storage::statusName(from), storage::statusName(to), "poll");
                           from = to;
                         }
                         if (!a.last.ok() && a.last.outcome != StoreOutcome::kConflict) {
                           reactor::logWarn("lifecycle poll: update failed",
                                            {{"recording_id", rec.id}, {"error", a.last.error}});
                         }
                         done(ok());
                       }));
      }));
}

void LifecycleService::linkRoom(const std::string& tenant, const std::string& roomId,
                                std::function<void(Status)> done) {
  provider_.listRoomRecordings(
      storage::providerRoomId(tenant, roomId),
      guardStatus(done, [this, tenant, roomId, done](fleet::ProviderError err,
                                                     std::vector<fleet::ProviderRecording> list) {
        count("recgw_lifecycle_provider_calls_total", "op", err.ok() ? "list_ok" : "list_failed");
        if (!err.ok() || list.empty()) return done(ok());
        std::vector<storage::ProviderSnapshot> snaps;
        for (const auto& p : list) snaps.push_back(snapshotFrom(p));
        store_.sync(
            tenant, roomId, snaps, settings_.linkWindow, false, false, Clock::now(),
            guardStatus(done, [tenant, roomId, done](storage::SyncResult s) {
              if (s.outcome != StoreOutcome::kOk) {
                reactor::logWarn("lifecycle poll: linking failed", {{"error", s.error}});
              }
              for (const auto& id : s.refused) {
                reactor::logWarn("provider recording listed under another room; not linked",
                                 {{"tenant", tenant}, {"room_id", roomId}, {"provider_recording_id", id}});
              }
              for (const auto& r : s.synced) {
                reactor::logInfo("recording linked to its provider recording",
                                 {{"recording_id", r.id}, {"provider_recording_id", r.providerRecordingId}});
              }
              done(ok());
            }));
      }));
}

}  // namespace recgw::lifecycle
