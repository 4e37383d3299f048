#include "handlers/lifecycle_poller.h"

#include <deque>
#include <set>
#include <string>
#include <vector>

#include "handlers/lifecycle_runtime.h"
#include "reactor/logger.h"

namespace recgw::handlers {

class LifecyclePoller::Passes {
 public:
  Passes(LifecycleContext& ctx, std::weak_ptr<LifecycleRuntime> runtime)
      : ctx_(ctx), runtime_(std::move(runtime)), timer_(*ctx.loop, [this] { tick(); }) {}

  void start(std::chrono::milliseconds period) { timer_.startPeriodic(period); }

 private:
  static constexpr int kMaxInFlight = 4;
  static constexpr int64_t kMaxUnlinked = 50;
  static constexpr size_t kMaxRoomsPerPass = 10;

  // What applying one recording's steps did.
  struct Applied {
    std::vector<RecordingStatus> steps;  // the ones that succeeded, in order
    StoreResult last;
    bool notBound = false;  // the provider recording is filed under a room that is not this one's
    static Applied unavailable(std::string why) {
      return {{}, StoreResult::unavailable(std::move(why)), false};
    }
  };

  // Runs `f` only while the runtime (and so this poller) is alive and the pass that made
  // the callback is still the current one: a pass ended early (an exception) must not have
  // its late answers counted against the next one.
  template <typename F>
  auto guarded(F f) {
    std::weak_ptr<LifecycleRuntime> weak = runtime_;
    uint64_t pass = pass_;
    return [this, weak, pass, f](auto&&... args) mutable {
      auto rt = weak.lock();
      if (!rt || pass != pass_ || !running_) return;
      try {
        f(*rt, std::forward<decltype(args)>(args)...);
      } catch (const std::exception& e) {
        reactor::logError("lifecycle poll step failed", {{"error", e.what()}});
        endPass("error");
      }
    };
  }

  void tick() {
    if (running_) return;
    auto rt = runtime_.lock();
    if (!rt || !rt->provider.configured()) return;
    running_ = true;
    ++pass_;
    inFlight_ = 0;
    roomsLeft_ = 0;
    pending_.clear();
    int64_t batch = std::max(1, ctx_.settings.pollBatch);
    std::string after = linkedCursor_;
    rt->store.run<storage::RecordingPage>(
        [batch, after](mongoc_client_t* c, const RecordingCollections& n) {
          return RecordingStore::pollBatch(c, n, true, after, batch);
        },
        guarded([this, batch](LifecycleRuntime&, storage::RecordingPage page) {
          if (!page.error.empty()) {
            reactor::logWarn("lifecycle poll: cannot read recordings", {{"error", page.error}});
            return endPass("store_error");
          }
          linkedCursor_ = static_cast<int64_t>(page.items.size()) < batch ? "" : page.items.back().id;
          for (auto& r : page.items) pending_.push_back(std::move(r));
          pump();
        }));
  }

  void pump() {
    auto rt = runtime_.lock();
    if (!rt) return;
    while (inFlight_ < kMaxInFlight && !pending_.empty()) {
      Recording rec = std::move(pending_.front());
      pending_.pop_front();
      ++inFlight_;
      rt->provider.getRecording(
          rec.providerRecordingId,
          guarded([this, rec](LifecycleRuntime& rt, fleet::ProviderError err, fleet::ProviderRecording p) {
            onProviderAnswer(rt, rec, err, p);
          }));
    }
    if (inFlight_ == 0 && pending_.empty()) linkedDone();
  }

  void onProviderAnswer(LifecycleRuntime& rt, const Recording& rec, const fleet::ProviderError& err,
                        const fleet::ProviderRecording& p) {
    countMetric(ctx_, "recgw_lifecycle_provider_calls_total", "op", err.ok() ? "get_ok" : "get_failed");
    if (!err.ok()) {
      --inFlight_;
      return pump();
    }
    storage::ProviderSnapshot snap = snapshotFrom(p);
    auto steps = storage::stepsToward(rec.status, snap.status, snap.storage.has_value());
    auto binding = storage::bindProviderRoom(snap.roomId, rec.tenantId, rec.roomId);
    if (steps.empty()) {
      --inFlight_;
      return pump();
    }
    auto now = Clock::now();
    rt.store.run<Applied>(
        [rec, snap, steps, binding, now](mongoc_client_t* c, const RecordingCollections& n) {
          return apply(c, n, rec, snap, binding, steps, now);
        },
        guarded([this, rec, snap](LifecycleRuntime&, Applied a) {
          --inFlight_;
          if (a.notBound) {
            // Linked before rooms were named per tenant, in a room id another tenant has too
            // (or the provider moved it): whose it is cannot be told; left for an operator.
            noteUnboundProviderRecording(ctx_, {}, rec, snap.roomId, "poll");
            return pump();
          }
          RecordingStatus from = rec.status;
          for (RecordingStatus to : a.steps) {
            noteTransition(ctx_, {}, a.last.recording ? *a.last.recording : rec, storage::statusName(from),
                           storage::statusName(to), "poll");
            from = to;
          }
          if (!a.last.ok() && a.last.outcome != StoreOutcome::kConflict) {
            reactor::logWarn("lifecycle poll: update failed",
                             {{"recording_id", rec.id}, {"error", a.last.error}});
          }
          pump();
        }));
  }

  static Applied apply(mongoc_client_t* c, const RecordingCollections& n, const Recording& rec,
                       const storage::ProviderSnapshot& snap, storage::ProviderRoomBinding binding,
                       const std::vector<RecordingStatus>& steps, Clock::time_point now) {
    Applied out;
    bool shared = false;
    if (binding == storage::ProviderRoomBinding::kBareRoomId) {
      std::string error;
      shared = RecordingStore::roomIdShared(c, n, rec.tenantId, rec.roomId, error);
      if (!error.empty()) return Applied::unavailable(error);
    }
    if (!storage::linkedProviderRoomAccepted(binding, shared)) {
      out.notBound = true;
      return out;
    }
    RecordingStatus from = rec.status;
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
      out.last = RecordingStore::transition(c, n, "", rec.id, from, u, now);
      if (!out.last.ok()) return out;
      out.steps.push_back(to);
      from = to;
    }
    return out;
  }

  void linkedDone() {
    auto rt = runtime_.lock();
    if (!rt) return;
    std::string after = unlinkedCursor_;
    rt->store.run<storage::RecordingPage>(
        [after](mongoc_client_t* c, const RecordingCollections& n) {
          return RecordingStore::pollBatch(c, n, false, after, kMaxUnlinked);
        },
        guarded(
            [this](LifecycleRuntime& rt, storage::RecordingPage page) { linkRooms(rt, std::move(page)); }));
  }

  // Phase 2: rooms with recordings that have no provider id yet.
  void linkRooms(LifecycleRuntime& rt, storage::RecordingPage page) {
    if (!page.error.empty()) {
      reactor::logWarn("lifecycle poll: cannot read unlinked recordings", {{"error", page.error}});
      return endPass("store_error");
    }
    std::set<std::pair<std::string, std::string>> rooms;  // (tenant, room)
    std::string lastTaken;
    bool cut = false;
    for (const auto& r : page.items) {
      if (!rooms.count({r.tenantId, r.roomId}) && rooms.size() >= kMaxRoomsPerPass) {
        cut = true;
        break;
      }
      rooms.insert({r.tenantId, r.roomId});
      lastTaken = r.id;
    }
    // Items come in _id order: the next pass goes on after the last one taken.
    unlinkedCursor_ = cut || static_cast<int64_t>(page.items.size()) == kMaxUnlinked ? lastTaken : "";
    if (rooms.empty()) return endPass("ok");
    roomsLeft_ = static_cast<int>(rooms.size());
    for (const auto& entry : rooms) {
      // Named copies: lambdas cannot capture structured bindings before C++20 in clang 14.
      const auto tenant = entry.first;
      const auto room = entry.second;
      rt.provider.listRoomRecordings(
          storage::providerRoomId(tenant, room),
          guarded([this, tenant, room](LifecycleRuntime& rt, fleet::ProviderError err,
                                       std::vector<fleet::ProviderRecording> list) {
            countMetric(ctx_, "recgw_lifecycle_provider_calls_total", "op",
                        err.ok() ? "list_ok" : "list_failed");
            if (!err.ok() || list.empty()) return roomDone();
            std::vector<storage::ProviderSnapshot> snaps;
            for (const auto& p : list) snaps.push_back(snapshotFrom(p));
            auto window = ctx_.settings.linkWindow;
            auto now = Clock::now();
            rt.store.run<storage::SyncResult>(
                [tenant, room, snaps, window, now](mongoc_client_t* c, const RecordingCollections& n) {
                  return RecordingStore::sync(c, n, tenant, room, snaps, window, false, false, now);
                },
                guarded([this, tenant, room](LifecycleRuntime&, storage::SyncResult s) {
                  if (s.outcome != StoreOutcome::kOk) {
                    reactor::logWarn("lifecycle poll: linking failed", {{"error", s.error}});
                  }
                  for (const auto& id : s.refused) {
                    reactor::logWarn("provider recording listed under another room; not linked",
                                     {{"tenant", tenant}, {"room_id", room}, {"provider_recording_id", id}});
                  }
                  for (const auto& r : s.synced) {
                    reactor::logInfo(
                        "recording linked to its provider recording",
                        {{"recording_id", r.id}, {"provider_recording_id", r.providerRecordingId}});
                  }
                  roomDone();
                }));
          }));
    }
  }

  void roomDone() {
    if (--roomsLeft_ > 0) return;
    endPass("ok");
  }

  void endPass(std::string_view outcome) {
    running_ = false;
    inFlight_ = 0;
    pending_.clear();
    countMetric(ctx_, "recgw_lifecycle_poll_passes_total", "outcome", outcome);
  }

  LifecycleContext& ctx_;
  std::weak_ptr<LifecycleRuntime> runtime_;
  reactor::Timer timer_;
  bool running_ = false;
  uint64_t pass_ = 0;
  int inFlight_ = 0;
  int roomsLeft_ = 0;
  std::deque<Recording> pending_;
  std::string linkedCursor_;    // last _id of the previous linked batch ("" = from the start)
  std::string unlinkedCursor_;  // the same for unlinked recordings
};

LifecyclePoller::LifecyclePoller(LifecycleContext& ctx, std::weak_ptr<LifecycleRuntime> runtime)
    : passes_(std::make_unique<Passes>(ctx, std::move(runtime))) {}

LifecyclePoller::~LifecyclePoller() = default;

void LifecyclePoller::start(std::chrono::milliseconds period) { passes_->start(period); }

}  // namespace recgw::handlers
