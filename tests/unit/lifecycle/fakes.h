#pragma once
// Fakes of the lifecycle's ports (lifecycle/ports.h) for the unit tests: an in-memory
// recordings store, a media provider and an archive storage. Like the real ones they answer
// later, never inside the call: answers queue on a Deferred the test drains.
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "lifecycle/ports.h"
#include "storage/recording_store.h"

namespace recgw::lifecycle::testing {

// The loop the fakes answer on.
class Deferred {
 public:
  void post(std::function<void()> f) { queue_.push_back(std::move(f)); }
  // Runs every queued answer, and those they queue, until none is left.
  void drain() {
    while (!queue_.empty()) {
      auto f = std::move(queue_.front());
      queue_.pop_front();
      f();
    }
  }
  size_t pending() const { return queue_.size(); }

 private:
  std::deque<std::function<void()>> queue_;
};

class FakeStore : public RecordingRepository {
 public:
  explicit FakeStore(Deferred& loop) : loop_(loop) {}

  void addRoom(const std::string& tenant, const std::string& room) { rooms_.insert({tenant, room}); }
  Recording& put(Recording r) {
    auto id = r.id;
    return recordings[id] = std::move(r);
  }

  std::map<std::string, Recording> recordings;
  bool unavailable = false;  // every call answers kUnavailable
  int transitions = 0;       // transition() calls that changed a status

  void findRoom(const std::string& tenant, const std::string& roomId, Callback<StoreResult> done) override {
    answer(done, [=, this] {
      if (!rooms_.count({tenant, roomId})) return StoreResult{StoreOutcome::kNoRoom, {}, {}, {}};
      return StoreResult{StoreOutcome::kOk, {}, storage::Room{roomId, tenant, "room"}, {}};
    });
  }

  void start(const std::string& tenant, const std::string& roomId, const std::string& newId,
             Clock::time_point now, Callback<StoreResult> done) override {
    answer(done, [=, this] {
      if (!rooms_.count({tenant, roomId})) return StoreResult{StoreOutcome::kNoRoom, {}, {}, {}};
      if (auto* active = activeIn(tenant, roomId))
        return StoreResult{StoreOutcome::kConflict, *active, {}, {}};
      Recording r;
      r.id = newId;
      r.tenantId = tenant;
      r.roomId = roomId;
      r.source = "api";
      r.startedAt = now;
      r.createdAt = r.updatedAt = now;
      return StoreResult{StoreOutcome::kOk, put(r), {}, {}};
    });
  }

  void stop(const std::string& tenant, const std::string& roomId, Clock::time_point now,
            Callback<StoreResult> done) override {
    answer(done, [=, this] {
      if (!rooms_.count({tenant, roomId})) return StoreResult{StoreOutcome::kNoRoom, {}, {}, {}};
      Recording* active = activeIn(tenant, roomId);
      if (!active) return StoreResult{StoreOutcome::kNotFound, {}, {}, {}};
      active->status = RecordingStatus::kProcessing;
      active->stoppedAt = now;
      ++transitions;
      return StoreResult{StoreOutcome::kOk, *active, {}, {}};
    });
  }

  void get(const std::string& tenant, const std::string& id, bool withRoom,
           Callback<StoreResult> done) override {
    answer(done, [=, this] {
      Recording* r = find(tenant, id);
      if (!r) return StoreResult{StoreOutcome::kNotFound, {}, {}, {}};
      std::optional<storage::Room> room;
      if (withRoom && rooms_.count({r->tenantId, r->roomId}))
        room = storage::Room{r->roomId, r->tenantId, "room"};
      return StoreResult{StoreOutcome::kOk, *r, room, {}};
    });
  }

  void list(const std::string& tenant, int64_t limit, int64_t offset,
            Callback<storage::RecordingPage> done) override {
    answer(done, [=, this] {
      storage::RecordingPage page;
      for (auto& [id, r] : recordings) {
        if (r.tenantId != tenant || r.deletedAt) continue;
        if (page.total++ >= offset && static_cast<int64_t>(page.items.size()) < limit)
          page.items.push_back(r);
      }
      return page;
    });
  }

  void transition(const std::string& tenant, const std::string& id, RecordingStatus expected,
                  const storage::TransitionUpdate& u, Clock::time_point now,
                  Callback<StoreResult> done) override {
    answer(done, [=, this] { return apply(tenant, id, expected, u, now); });
  }

  void softDelete(const std::string& tenant, const std::string& id, Clock::time_point now,
                  Callback<StoreResult> done) override {
    answer(done, [=, this] {
      Recording* r = find(tenant, id);
      if (!r) return StoreResult{StoreOutcome::kNotFound, {}, {}, {}};
      r->deletedAt = now;
      return StoreResult{StoreOutcome::kOk, *r, {}, {}};
    });
  }

  void sync(const std::string& tenant, const std::string& roomId,
            const std::vector<storage::ProviderSnapshot>& snapshots, std::chrono::seconds window,
            bool importUnknown, bool checkRoom, Clock::time_point now,
            Callback<storage::SyncResult> done) override {
    answer(done, [=, this] {
      if (checkRoom && !rooms_.count({tenant, roomId}))
        return storage::SyncResult{StoreOutcome::kNoRoom, {}, {}, {}};
      storage::SyncResult out{StoreOutcome::kOk, {}, {}, {}};
      for (const auto& snap : snapshots) {
        if (knownProviderId(snap.providerId)) continue;
        if (snap.roomId != storage::providerRoomId(tenant, roomId)) {
          out.refused.push_back(snap.providerId);
          continue;
        }
        std::vector<Recording> locals;
        for (auto& [id, r] : recordings) {
          if (r.tenantId == tenant && r.roomId == roomId && !r.deletedAt) locals.push_back(r);
        }
        storage::ProviderSnapshot inRoom = snap;
        inRoom.roomId = roomId;
        if (auto match = storage::matchLocalRecording(inRoom, locals, window)) {
          Recording& local = recordings[locals[*match].id];
          local.providerRecordingId = snap.providerId;
          out.synced.push_back(local);
        } else if (importUnknown) {
          Recording r;
          r.id = storage::newRecordingId();
          r.tenantId = tenant;
          r.roomId = roomId;
          r.source = "provider";
          r.providerRecordingId = snap.providerId;
          r.status = snap.status.value_or(RecordingStatus::kProcessing);
          r.storage = snap.storage;
          r.createdAt = r.updatedAt = now;
          out.synced.push_back(put(r));
        }
      }
      return out;
    });
  }

  void recoverTarget(const std::string& tenant, const std::string& id,
                     Callback<RecoverTarget> done) override {
    answer(done, [=, this] {
      Recording* r = find(tenant, id);
      if (!r) return RecoverTarget{StoreResult{StoreOutcome::kNotFound, {}, {}, {}}, false};
      return RecoverTarget{StoreResult{StoreOutcome::kOk, *r, {}, {}}, roomIdShared(tenant, r->roomId)};
    });
  }

  void pollBatch(bool linked, const std::string& afterId, int64_t limit,
                 Callback<storage::RecordingPage> done) override {
    answer(done, [=, this] {
      storage::RecordingPage page;
      for (auto& [id, r] : recordings) {
        if (id <= afterId || r.deletedAt || static_cast<int64_t>(page.items.size()) >= limit) continue;
        bool isLinked = !r.providerRecordingId.empty();
        bool wanted = linked ? isLinked && (r.status == RecordingStatus::kRecording ||
                                            r.status == RecordingStatus::kProcessing)
                             : !isLinked && r.status == RecordingStatus::kProcessing;
        if (wanted) page.items.push_back(r);
      }
      page.total = static_cast<int64_t>(page.items.size());
      return page;
    });
  }

  void advance(const Recording& rec, storage::ProviderRoomBinding binding,
               const std::vector<storage::TransitionUpdate>& updates, Clock::time_point now,
               Callback<Advanced> done) override {
    answer(done, [=, this] {
      Advanced out;
      if (!storage::linkedProviderRoomAccepted(binding, roomIdShared(rec.tenantId, rec.roomId))) {
        out.notBound = true;
        return out;
      }
      RecordingStatus from = rec.status;
      for (const auto& u : updates) {
        out.last = apply("", rec.id, from, u, now);
        if (!out.last.ok()) return out;
        out.steps.push_back(*u.to);
        from = *u.to;
      }
      return out;
    });
  }

 private:
  template <typename R, typename F>
  void answer(Callback<R>& done, F make) {
    if (unavailable) {
      loop_.post([done] { done(R::unavailable("MongoDB is down (fake)")); });
      return;
    }
    R result = make();
    loop_.post([done, result]() mutable { done(std::move(result)); });
  }

  Recording* find(const std::string& tenant, const std::string& id) {
    auto it = recordings.find(id);
    if (it == recordings.end() || it->second.deletedAt) return nullptr;
    if (!tenant.empty() && it->second.tenantId != tenant) return nullptr;
    return &it->second;
  }
  Recording* activeIn(const std::string& tenant, const std::string& room) {
    for (auto& [id, r] : recordings) {
      if (r.tenantId == tenant && r.roomId == room && r.status == RecordingStatus::kRecording && !r.deletedAt)
        return &r;
    }
    return nullptr;
  }
  bool knownProviderId(const std::string& providerId) {
    for (auto& [id, r] : recordings) {
      if (r.providerRecordingId == providerId) return true;
    }
    return false;
  }
  bool roomIdShared(const std::string& tenant, const std::string& room) {
    for (const auto& [t, r] : rooms_) {
      if (r == room && t != tenant) return true;
    }
    return false;
  }
  StoreResult apply(const std::string& tenant, const std::string& id, RecordingStatus expected,
                    const storage::TransitionUpdate& u, Clock::time_point now) {
    Recording* r = find(tenant, id);
    if (!r) return {StoreOutcome::kNotFound, {}, {}, {}};
    if (r->status != expected) return {StoreOutcome::kConflict, *r, {}, {}};
    if (u.to) {
      if (!storage::canTransition(expected, *u.to)) return StoreResult::unavailable("invalid transition");
      r->status = *u.to;
      ++transitions;
    }
    r->updatedAt = now;
    if (u.stoppedAt) r->stoppedAt = u.stoppedAt;
    if (u.readyAt) r->readyAt = u.readyAt;
    if (u.archivedAt) r->archivedAt = u.archivedAt;
    if (u.recoverRequestedAt) r->recoverRequestedAt = u.recoverRequestedAt;
    if (u.durationSeconds) r->durationSeconds = u.durationSeconds;
    if (u.sizeBytes) r->sizeBytes = u.sizeBytes;
    if (u.storage) r->storage = u.storage;
    if (u.failureReason) r->failureReason = *u.failureReason;
    return {StoreOutcome::kOk, *r, {}, {}};
  }

  Deferred& loop_;
  std::set<std::pair<std::string, std::string>> rooms_;  // (tenant, room)
};

class FakeProvider : public MediaProviderPort {
 public:
  explicit FakeProvider(Deferred& loop) : loop_(loop) {}

  bool isConfigured = true;
  bool down = false;  // every call fails as an unreachable provider does
  std::map<std::string, fleet::ProviderRecording> byId;
  std::vector<std::string> reprocessed;
  int calls = 0;

  fleet::ProviderRecording& add(fleet::ProviderRecording p) { return byId[p.id] = std::move(p); }

  bool configured() const override { return isConfigured; }

  void listRoomRecordings(
      const std::string& providerRoomId,
      std::function<void(fleet::ProviderError, std::vector<fleet::ProviderRecording>)> done) override {
    ++calls;
    std::vector<fleet::ProviderRecording> list;
    for (auto& [id, p] : byId) {
      if (p.roomId == providerRoomId) list.push_back(p);
    }
    fleet::ProviderError err = failure();
    if (!err.ok()) list.clear();
    loop_.post([done, err, list] { done(err, list); });
  }

  void getRecording(const std::string& providerId,
                    std::function<void(fleet::ProviderError, fleet::ProviderRecording)> done) override {
    ++calls;
    fleet::ProviderError err = failure();
    fleet::ProviderRecording p;
    if (err.ok()) {
      auto it = byId.find(providerId);
      if (it == byId.end())
        err = {fleet::ProviderError::Kind::kNotFound, 404, 1, "unknown recording"};
      else
        p = it->second;
    }
    loop_.post([done, err, p] { done(err, p); });
  }

  void requestReprocess(const std::string& providerId,
                        std::function<void(fleet::ProviderError)> done) override {
    ++calls;
    fleet::ProviderError err = failure();
    if (err.ok()) reprocessed.push_back(providerId);
    loop_.post([done, err] { done(err); });
  }

 private:
  fleet::ProviderError failure() const {
    if (!down) return {};
    return {fleet::ProviderError::Kind::kBadGateway, 0, 3, "connect to 127.0.0.1 port 1 failed: refused"};
  }
  Deferred& loop_;
};

class FakeArchive : public ArchiveStorage {
 public:
  explicit FakeArchive(Deferred& loop)
      : loop_(loop),
        hotSigner_("AKIDHOT", "hot-secret", "us-east-1"),
        archiveSigner_("AKIDARC", "arc-secret", "us-east-1") {}

  static constexpr const char* kHotBucket = "hot";
  static constexpr const char* kArchiveBucket = "archive";

  std::optional<ArchiveRefusal> refusal;
  // The outcomes of the next moves, in order; kMoved once they are used up.
  std::deque<storage::ArchiveMove::Kind> nextMoves;
  std::vector<std::string> moved;  // recording ids whose object reached the archive
  int attempts = 0;
  bool signers = true;

  std::optional<ArchiveRefusal> refuse(const Recording&) override { return refusal; }
  bool streamed() override { return false; }

  void move(const Recording& rec,
            std::function<void(storage::ArchiveMove, storage::StoredObject)> done) override {
    ++attempts;
    storage::ArchiveMove m;
    m.kind = storage::ArchiveMove::Kind::kMoved;
    if (!nextMoves.empty()) {
      m.kind = nextMoves.front();
      nextMoves.pop_front();
    }
    if (m.kind == storage::ArchiveMove::Kind::kMoved) {
      moved.push_back(rec.id);
    } else {
      m.reason = "S3 answered 500 InternalError from 127.0.0.1:9000";
    }
    storage::StoredObject target{"s3", kArchiveBucket, rec.storage ? rec.storage->key : "", "GLACIER_IR"};
    loop_.post([done, m, target] { done(m, target); });
  }

  std::optional<SigningStore> storeForBucket(const std::string& bucket) override {
    storage::S3Location loc;
    loc.endpoint = "http://127.0.0.1:9000";
    loc.region = "us-east-1";
    loc.addressing = storage::Addressing::kPath;
    if (bucket.empty() || bucket == kHotBucket) {
      loc.bucket = kHotBucket;
      return SigningStore{loc, signers ? &hotSigner_ : nullptr};
    }
    if (bucket == kArchiveBucket) {
      loc.bucket = kArchiveBucket;
      return SigningStore{loc, signers ? &archiveSigner_ : nullptr};
    }
    return std::nullopt;
  }

 private:
  Deferred& loop_;
  storage::SigV4Signer hotSigner_, archiveSigner_;
};

}  // namespace recgw::lifecycle::testing
